"""A small soak in every test run: 600 jobs, 4 random faults, on private servers; the checker finds nothing.

The full one is a command (`python -m tests.faults.soak --jobs 10000 --faults 20`),
too long for the default run. The seed is fixed so that a failure here can be
replayed; `BATCHQ_SOAK_SEED` picks another.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.faults.private_servers import ServerMissingError
from tests.faults.soak import running_stack, soak, sound

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def test_a_small_soak_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("BATCHQ_SOAK_SEED", "2026"))
    random.seed(seed)
    try:
        with running_stack(tmp_path / "soak", workers=2) as stack:
            figures = soak(stack, jobs=600, faults=4, rng=random.Random(seed))
    except ServerMissingError as error:
        pytest.fail(str(error), pytrace=False)
    print(figures)
    assert sound(figures), f"seed {seed}: {figures}"
