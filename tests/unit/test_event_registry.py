"""Any process that imports the store can read every stored event: each topic resolves, nothing else imported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pinned_event_names() -> set[str]:
    """Every class decorated `@pinned` under domain/, found by parsing the source."""
    names = set()
    for path in (ROOT / "domain").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(d, ast.Name) and d.id == "pinned" for d in node.decorator_list
            ):
                names.add(node.name)
    return names


def test_importing_the_store_alone_registers_every_event_topic() -> None:
    wanted = pinned_event_names()
    script = (
        "import services.adapters.store\n"
        "from eventsourcing.utils import resolve_topic\n"
        f"for name in {sorted(wanted)!r}:\n"
        "    resolve_topic('batchq:' + name)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert len(wanted) > 20
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
