"""The one kind of error a person fixes outside batchq: a server, a setting, a database's migrations.

Every process that meets one says it in one line naming the variable or the
command to run, and exits 1, never with a traceback (CONTRACT: configuration).
"""

from __future__ import annotations


class SetupError(Exception):
    """A server out of reach, a setting batchq cannot use, a database not migrated."""
