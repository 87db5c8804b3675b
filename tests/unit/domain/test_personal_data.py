"""Every field of every stored event is classified personal or clear: a new field fails here until it is."""

from __future__ import annotations

import pytest

import domain.registry  # noqa: F401  (registers every event class)
from domain.base import EVENT_CLASSES
from domain.personal import CLASSIFIED, PROVENANCE_IN_CLEAR, SUBJECT_FIELD, field_of


def event_fields(event_class: type) -> set[str]:
    fields: set[str] = set()
    for klass in event_class.__mro__:
        fields.update(name for name in getattr(klass, "__annotations__", {}) if not name.startswith("_"))
    return fields - {"TOPIC"}


@pytest.mark.parametrize("name", sorted(EVENT_CLASSES))
def test_each_field_of_each_event_is_classified_personal_or_clear(name: str) -> None:
    assert name in CLASSIFIED, f"{name} is not classified in domain/personal.py"
    personal, clear = CLASSIFIED[name]
    own = event_fields(EVENT_CLASSES[name]) - PROVENANCE_IN_CLEAR - {SUBJECT_FIELD}

    whole = {path for path in personal if "." not in path}  # `error.reason` leaves the rest of `error` in clear
    assert not whole & clear, f"{name}: {sorted(whole & clear)} classified both ways"
    classified = {field_of(path) for path in personal} | clear
    assert own == classified, f"{name}: unclassified {sorted(own - classified)}"


def test_the_contracts_personal_fields_are_personal() -> None:
    assert {"depositor_email"} <= CLASSIFIED["BatchSubmitted"][0]
    assert {"params", "payload_url", "item.key"} <= CLASSIFIED["JobSubmitted"][0]
    assert {"error.reason", "error.traceback"} <= CLASSIFIED["JobFailed"][0]
    assert "key" in CLASSIFIED["ItemClaimed"][0]
