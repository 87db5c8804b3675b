"""The static checks the code promises: ruff clean everywhere, mypy --strict on the pure core.

Kept out of tests/unit so the unit suite stays fast; they run in the full suite and CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_mypy_strict_passes_on_domain_and_contracts() -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", "domain", "contracts")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(), reason="ruff is not installed"
)
def test_ruff_finds_nothing_in_the_product_code() -> None:
    ruff = str(Path(sys.executable).parent / "ruff") if (Path(sys.executable).parent / "ruff").exists() else "ruff"
    result = _run(ruff, "check", "domain", "contracts", "services")
    assert result.returncode == 0, result.stdout + result.stderr
