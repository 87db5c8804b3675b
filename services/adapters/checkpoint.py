"""Checkpoints on disk: the store up to one position, the broker's definitions, a manifest with checksums.

The copy is PostgreSQL's own: `pg_dump --snapshot` of a snapshot that one
REPEATABLE READ transaction exports, the same transaction that reads the last
position and the schema version, so the three agree with each other whatever
services append meanwhile. A restore is `pg_restore` in a single transaction into
a database with no tables yet, after every checksum has been verified. Rows are
never copied by hand.

`manifest.json` is written last: a directory without one is an unfinished
checkpoint, which `list` does not show and `restore` refuses.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from services.adapters.migrator import MIGRATIONS_TABLE
from services.adapters.setup_errors import SetupError

MANIFEST = "manifest.json"
STORE_FILE = "store.dump"
BROKER_FILE = "broker-definitions.json"
FORMAT = 1


class CheckpointError(SetupError):
    """Base of the checkpoint errors: each says what to do, in one line."""


class ToolMissingError(CheckpointError):
    def __init__(self, tool: str) -> None:
        super().__init__(f"{tool} is not installed: install PostgreSQL's client programs (Debian: postgresql-client)")


class ToolFailedError(CheckpointError):
    def __init__(self, tool: str, stderr: str) -> None:
        super().__init__(f"{tool} failed: {' '.join(stderr.split())[:500]}")


class NotEmptyError(CheckpointError):
    def __init__(self, address: str, tables: int) -> None:
        super().__init__(f"refused: the database {address} is not empty ({tables} tables); restore into a new database")


class BadCheckpointError(CheckpointError):
    def __init__(self, directory: Path, problem: str) -> None:
        super().__init__(f"{directory} is not a usable checkpoint: {problem}")


@dataclass(frozen=True)
class Manifest:
    checkpoint_id: str
    label: str
    created_at: str
    created_by: str
    position: int
    schema_version: int
    database_schema: str
    files: dict[str, str]  # name → sha256
    broker: dict[str, Any] = field(default_factory=dict)
    drained: bool = False
    format: int = FORMAT

    def write(self, directory: Path) -> None:
        (directory / MANIFEST).write_bytes(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        try:
            return cls(**orjson.loads((directory / MANIFEST).read_bytes()))
        except (OSError, orjson.JSONDecodeError, TypeError) as error:
            raise BadCheckpointError(directory, f"no readable {MANIFEST} ({error})") from None

    def verify(self, directory: Path) -> None:
        """Raise unless every file the manifest names is there with its checksum."""
        for name, expected in self.files.items():
            path = directory / name
            if not path.is_file():
                raise BadCheckpointError(directory, f"{name} is missing")
            if sha256(path) != expected:
                raise BadCheckpointError(directory, f"{name} does not match its checksum in {MANIFEST}")


@dataclass(frozen=True)
class StoreCopy:
    position: int
    schema_version: int


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(name)
    return found


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolFailedError(Path(args[0]).name, done.stderr)


def dump_store(url: str, schema: str, out: Path) -> StoreCopy:
    """`pg_dump` of `schema` as one snapshot sees it, with the position and schema version of that snapshot."""
    pg_dump = _tool("pg_dump")
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        position = conn.execute(
            sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(sql.Identifier(schema, "batchq_events"))
        ).fetchone()[0]  # type: ignore[index]
        version = conn.execute(
            sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(sql.Identifier(schema, MIGRATIONS_TABLE))
        ).fetchone()[0]  # type: ignore[index]
        # The snapshot lives as long as this transaction: pg_dump runs inside it.
        _run([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--schema={schema}", "--no-owner",
              f"--file={out}", f"--dbname={url}"])  # fmt: skip
        conn.rollback()
    return StoreCopy(int(position), int(version))


def table_count(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%%'"
        ).fetchone()
    return int(row[0])  # type: ignore[index]


def restore_store(directory: Path, manifest: Manifest, url: str, address: str) -> None:
    """Load the dump into `url`, which must have no table; all of it or nothing (one transaction)."""
    pg_restore = _tool("pg_restore")
    manifest.verify(directory)
    if tables := table_count(url):
        raise NotEmptyError(address, tables)
    schema = manifest.database_schema
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    # The schema exists now (`public` always does): every entry of the dump but the schema's own.
    listing = subprocess.run([pg_restore, "--list", str(directory / STORE_FILE)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise ToolFailedError("pg_restore", listing.stderr)
    own = (f" SCHEMA - {schema} ", f" COMMENT - SCHEMA {schema} ")
    entries = [line for line in listing.stdout.splitlines() if not any(marker in line + " " for marker in own)]
    toc = directory / ".restore-list"
    toc.write_text("\n".join(entries) + "\n")
    try:
        _run([pg_restore, "--no-owner", "--exit-on-error", "--single-transaction", f"--use-list={toc}",
              f"--dbname={url}", str(directory / STORE_FILE)])  # fmt: skip
    finally:
        toc.unlink(missing_ok=True)


def checkpoints_under(directory: Path) -> list[tuple[Path, Manifest]]:
    """Every finished checkpoint in `directory` (itself or its subdirectories), oldest first."""
    candidates = [directory, *sorted(p for p in directory.iterdir() if p.is_dir())] if directory.is_dir() else []
    found = [(path, Manifest.read(path)) for path in candidates if (path / MANIFEST).is_file()]
    return sorted(found, key=lambda pair: pair[1].created_at)
