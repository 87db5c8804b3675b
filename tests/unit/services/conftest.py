"""Fixtures of the services' unit tests: the embedded adapter only, never a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.services.embedded import Engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path)
