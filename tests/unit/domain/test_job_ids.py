"""`JobIds`: a batch's job ids held as one hex string behave as the list of UUIDs they were."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from domain.job_ids import JobIds

IDS = [uuid4() for _ in range(5)]


def test_job_ids_read_back_as_the_uuids_they_were_made_of() -> None:
    ids = JobIds.of(IDS)

    assert list(ids) == IDS
    assert len(ids) == 5
    assert [ids[0], ids[-1]] == [IDS[0], IDS[-1]]
    assert ids[1:3] == IDS[1:3]
    assert list(ids.strings()) == [str(u) for u in IDS]


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (JobIds.of(IDS), IDS, True),
        (JobIds.of(IDS), JobIds.of(IDS), True),
        (JobIds.of(IDS), IDS[::-1], False),
        (JobIds.of(IDS), IDS[:4], False),
        (JobIds.of([]), [], True),
    ],
)
def test_job_ids_equal_any_sequence_of_the_same_ids_in_order(left: JobIds, right: object, equal: bool) -> None:
    assert (left == right) is equal


def test_membership_and_position_as_in_a_list() -> None:
    ids = JobIds.of(IDS)

    assert IDS[3] in ids and uuid4() not in ids
    assert ids.index(IDS[2]) == 2
    assert hash(ids[0]) == hash(IDS[0]) and str(ids[0]) == str(IDS[0])


def test_out_of_range_and_malformed_are_refused() -> None:
    with pytest.raises(IndexError):
        JobIds.of(IDS)[5]
    with pytest.raises(ValueError, match="multiple of 32"):
        JobIds("abc")


def test_a_uuid_made_from_its_digits_is_an_ordinary_uuid() -> None:
    made = JobIds.of([UUID(int=7)])[0]

    assert made == UUID(int=7) and made.version is None and made.hex == f"{7:032x}"
