"""The projector's composition root: nothing connects at import."""

from __future__ import annotations

from services.adapters.lifecycle import run_service
from services.adapters.settings import Settings
from services.projections.service import ProjectorService


def build(settings: Settings) -> ProjectorService:
    return ProjectorService(settings)


def main() -> int:
    """`python -m services.projections`, and `batchq run projector`."""
    return run_service(build, name="projector")
