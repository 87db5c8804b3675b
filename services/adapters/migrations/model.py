"""What a migration is: a numbered pair of SQL scripts, up and down, for one schema.

The scripts name the schema as `{schema}`; it is filled in as a quoted
identifier (`BATCHQ_DATABASE_SCHEMA`), so one text serves every deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: str
    down: str

    def script(self, direction: str, schema: str) -> sql.Composed:
        """The `up` or `down` script for `schema`, ready to execute (several statements, no parameters)."""
        text = self.up if direction == "up" else self.down
        return sql.SQL(text).format(schema=sql.Identifier(schema))  # type: ignore[arg-type]
