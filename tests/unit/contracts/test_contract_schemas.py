"""The checked-in JSON Schema files are what the models generate."""

from __future__ import annotations

from pathlib import Path

import orjson

from contracts import export


def test_checked_in_schemas_are_not_stale() -> None:
    stale = export.stale_files()
    assert stale == [], "run `python -m contracts.export` and check in contracts/schemas/"


def test_check_mode_exits_one_when_a_schema_is_stale(tmp_path: Path) -> None:
    assert export.stale_files(tmp_path) != []
    assert export.write_all(tmp_path) != []
    assert export.stale_files(tmp_path) == []
    (tmp_path / "reply.json").write_bytes(b"{}\n")
    assert export.stale_files(tmp_path) == [tmp_path / "reply.json"]


def test_check_mode_exit_status_follows_the_checked_in_files() -> None:
    assert export.main(["--check"]) == 0


def test_published_schemas_require_schema_version_and_the_command_name() -> None:
    submission = orjson.loads(export.generate("submission"))
    assert "schema_version" in submission["required"]
    command = orjson.loads(export.generate("command"))
    retry = command["$defs"]["RetryJob"]
    assert {"schema_version", "command", "job_uuid"} <= set(retry["required"])
    assert command["discriminator"]["propertyName"] == "command"
    document = orjson.loads(export.generate("manifest_document"))
    assert document["required"] == ["jobs"]
