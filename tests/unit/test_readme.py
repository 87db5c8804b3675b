"""The README stays true: every `batchq` command it shows exists and takes the options shown."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from services.cli.main import parser

README = Path(__file__).resolve().parents[2] / "README.md"
# What the README writes as a placeholder, and a value the parser accepts for it.
EXAMPLES = {
    "BATCH_ID": "6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10",
    "JOB_UUID": "0b6c0000-0000-4000-8000-000000000001",
    "ID": "6f1e0c1a-4a55-4d0f-9c2e-2f7f3b1c9a10",
    "TEXT": "why",
    "FILE": "batch.json",
}


def readme_commands() -> list[str]:
    text = README.read_text()
    in_blocks = re.findall(r"^(batchq [^#&\n]*)", text, flags=re.MULTILINE)
    inline = re.findall(r"`(batchq [^`]*)`", text)
    return sorted({line.strip() for line in in_blocks + inline})


def example_arguments(command: str) -> list[str]:
    words = shlex.split(re.sub(r"[\[\]]", " ", command))[1:]
    return [EXAMPLES.get(word, word) for word in words if word != "|"]


def subcommands() -> set[str]:
    actions = [a for a in parser()._actions if a.choices]  # the subparsers action
    return set(actions[0].choices)


@pytest.mark.parametrize("command", readme_commands())
def test_every_batchq_command_in_the_readme_parses(command: str) -> None:
    arguments = example_arguments(command)
    if len(arguments) == 1:  # a mention in prose (`batchq submit`): the command exists
        assert arguments[0] in subcommands()
    else:
        parser().parse_args(arguments)


def test_the_readme_shows_the_commands() -> None:
    shown = {command.split()[1] for command in readme_commands()}
    assert {"submit", "status", "events", "retry", "cancel", "delete", "run", "migrate"} <= shown, shown
