"""The API's composition root: nothing connects at import."""

from __future__ import annotations

from services.adapters.lifecycle import run_service
from services.adapters.settings import Settings
from services.api.service import ApiService


def build(settings: Settings) -> ApiService:
    return ApiService(settings)


def main() -> int:
    """`python -m services.api`, and `batchq run api`."""
    return run_service(build, name="api")
