"""`batchq demo`: the four use cases of seeds 000 and 001, run live through the real services.

- `scenarios`: the four use cases, what a use case can do (submit, command, wait,
  read mail), and `run`, which plays them all at once and judges them;
- `watcher`: every stored event, in order, folded into batches and jobs, so no
  state is missed however fast it passes;
- `display`: the live table on a terminal, a line per change anywhere else, the summary;
- `case`: one use case's batch, what was seen of it, and what did not match the seeds;
- `mails`: the report emails read back, through the reporter's own renderer.
"""

from services.cli.demo.mails import Mail, read_mails
from services.cli.demo.scenarios import run

__all__ = ["Mail", "read_mails", "run"]
