"""Every field of every stored event is classified personal or clear: a new field fails here until it is."""

from __future__ import annotations

import pytest

import domain.registry  # noqa: F401  (registers every event class)
from domain.base import EVENT_CLASSES
from domain.personal import CLASSIFIED, PROVENANCE_IN_CLEAR, SUBJECT_FIELD


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

    assert not personal & clear, f"{name}: {sorted(personal & clear)} classified both ways"
    assert own == personal | clear, f"{name}: unclassified {sorted(own - personal - clear)}"


def test_the_contracts_personal_fields_are_personal() -> None:
    assert {"depositor_email"} <= CLASSIFIED["BatchSubmitted"][0]
    assert {"params", "payload_url", "item"} <= CLASSIFIED["JobSubmitted"][0]
    assert "error" in CLASSIFIED["JobFailed"][0]  # reasons and tracebacks
    assert "key" in CLASSIFIED["ItemClaimed"][0]
