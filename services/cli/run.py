"""`batchq run <service>`: build one service from the environment and serve it."""

from __future__ import annotations

import importlib

from services.adapters.lifecycle import run_service
from services.adapters.settings import Settings

# The name `batchq run` takes, and the package whose bootstrap builds it.
PACKAGES = {
    "dispatcher": "dispatcher",
    "worker": "worker",
    "reporter": "reporter",
    "api": "api",
    "projector": "projections",
}
SERVICES = tuple(PACKAGES)


def main(service: str, settings: Settings) -> int:
    """Each service's own composition root builds it; imported only when asked for."""
    bootstrap = importlib.import_module(f"services.{PACKAGES[service]}.bootstrap")
    return run_service(bootstrap.build, settings, name=service)
