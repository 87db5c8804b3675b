"""The import rules of STYLE.md, checked by parsing every module, so the layers cannot rot quietly.

- `domain/` is pure: no services, contracts or I/O libraries, no clock, no randomness.
- `contracts/` never imports `services`.
- the services (dispatcher, worker, reporter, relay) never import one another (they share
  `services.adapters`); the adapters import no service and not the CLI.
- nothing imports the CLI (`services.cli`) but the CLI itself: entry points point inward, each
  `services/<name>/__main__.py` runs its own bootstrap.
- only `services/adapters/settings.py` reads the environment.
- under `domain/` and `services/` no module is over 300 lines and no function over 50.

Each rule is also run on a small synthetic module that breaks it, to prove it can fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("dispatcher", "worker", "reporter", "relay", "api", "projections")
# The one edge allowed between services: the API reads the read model and runs its projector.
ALLOWED_EDGES = {("api", "projections")}
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 50
SETTINGS = PurePosixPath("services/adapters/settings.py")

DOMAIN_FORBIDDEN_IMPORTS = (
    "services", "contracts", "aio_pika", "aiormq", "psycopg", "structlog", "httpx",
    "asyncio", "os", "time", "random", "socket",
)  # fmt: skip
# Called names that read a clock or draw randomness, as written at the call site.
CLOCK_AND_CHANCE_CALLS = {
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.date.today",
    "time.time", "time.time_ns", "time.monotonic", "time.perf_counter",
    "uuid4", "uuid1", "uuid.uuid4", "uuid.uuid1",
}  # fmt: skip


def module_name(path: PurePosixPath) -> str:
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(tree: ast.AST, path: PurePosixPath) -> Iterator[tuple[str, int]]:
    """Every imported module, absolute (relative imports resolved against `path`), with its line."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield module, node.lineno
            for alias in node.names:  # `from services import worker` imports services.worker
                yield f"{module}.{alias.name}", node.lineno


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def domain_violations(tree: ast.AST, path: PurePosixPath) -> list[str]:
    found = [
        f"{path}:{line} imports {module}"
        for module, line in imports(tree, path)
        if any(within(module, banned) for banned in DOMAIN_FORBIDDEN_IMPORTS) or module in ("uuid.uuid4", "uuid.uuid1")
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name in CLOCK_AND_CHANCE_CALLS or within(name, "random"):
                found.append(f"{path}:{node.lineno} calls {name}")
    return found


def contracts_violations(tree: ast.AST, path: PurePosixPath) -> list[str]:
    return [f"{path}:{line} imports {module}" for module, line in imports(tree, path) if within(module, "services")]


def service_violations(tree: ast.AST, path: PurePosixPath) -> list[str]:
    own = path.parts[1]
    others = [f"services.{other}" for other in SERVICES if other != own and (own, other) not in ALLOWED_EDGES]
    return [
        f"{path}:{line} imports {module}"
        for module, line in imports(tree, path)
        if any(within(module, other) for other in others)
    ]


def adapter_violations(tree: ast.AST, path: PurePosixPath) -> list[str]:
    return [
        f"{path}:{line} imports {module}"
        for module, line in imports(tree, path)
        if within(module, "services") and not within(module, "services.adapters") and module != "services"
    ]


def cli_violations(tree: ast.AST, path: PurePosixPath) -> list[str]:
    if path.parts[:2] == ("services", "cli"):
        return []
    return [f"{path}:{line} imports {module}" for module, line in imports(tree, path) if within(module, "services.cli")]


def size_violations(tree: ast.AST, path: PurePosixPath, source: str) -> list[str]:
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{path} has {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path}:{node.lineno} {node.name} has {length} lines (at most {MAX_FUNCTION_LINES})")
    return found


def environment_violations(tree: ast.AST, path: PurePosixPath) -> list[str]:
    if path == SETTINGS:
        return []
    found = [
        f"{path}:{line} imports {module}"
        for module, line in imports(tree, path)
        if module in ("os.environ", "os.getenv", "os.environb", "os.putenv")
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and dotted(node) in (
            "os.environ",
            "os.environb",
            "os.getenv",
        ):
            found.append(f"{path}:{node.lineno} reads {dotted(node)}")
    return found


def check(rule: str, path: PurePosixPath, source: str) -> list[str]:
    tree = ast.parse(source, filename=str(path))
    if rule == "size":
        return size_violations(tree, path, source)
    checker = {
        "domain": domain_violations,
        "contracts": contracts_violations,
        "services": service_violations,
        "adapters": adapter_violations,
        "cli": cli_violations,
        "environment": environment_violations,
    }[rule]
    return checker(tree, path)


def modules(*folders: str) -> list[PurePosixPath]:
    return sorted(
        PurePosixPath(file.relative_to(ROOT).as_posix())
        for folder in folders
        if (ROOT / folder).is_dir()
        for file in (ROOT / folder).rglob("*.py")
    )


def violations(rule: str, paths: list[PurePosixPath]) -> list[str]:
    if not paths:
        pytest.skip(f"no modules for the {rule} rule yet")
    return [v for path in paths for v in check(rule, path, (ROOT / path).read_text(encoding="utf-8"))]


def test_domain_exists_so_its_checks_cannot_be_skipped() -> None:
    assert len(modules("domain")) >= 10


def test_domain_is_pure() -> None:
    assert violations("domain", modules("domain")) == []


def test_contracts_do_not_import_services() -> None:
    assert violations("contracts", modules("contracts")) == []


def test_services_do_not_import_one_another() -> None:
    assert violations("services", modules(*(f"services/{name}" for name in SERVICES))) == []


def test_adapters_import_no_service() -> None:
    assert violations("adapters", modules("services/adapters")) == []


def test_nothing_but_the_cli_imports_the_cli() -> None:
    assert violations("cli", modules("domain", "contracts", "services")) == []


def test_every_service_has_an_entry_point_of_its_own() -> None:
    for name in SERVICES:
        assert (ROOT / "services" / name / "__main__.py").is_file(), name
        assert (ROOT / "services" / name / "bootstrap.py").is_file(), name


def test_modules_and_functions_stay_small() -> None:
    assert violations("size", modules("domain", "services")) == []


def test_only_the_settings_adapter_reads_the_environment() -> None:
    assert violations("environment", modules("domain", "contracts", "services")) == []


@pytest.mark.parametrize(
    ("rule", "path", "source", "reported"),
    [
        ("domain", "domain/job.py", "import aio_pika\n", "domain/job.py:1 imports aio_pika"),
        (
            "domain",
            "domain/job.py",
            "from services.adapters import store\n",
            "imports services.adapters",
        ),
        (
            "domain",
            "domain/job.py",
            "from contracts.manifest import JobSpec\n",
            "imports contracts.manifest",
        ),
        ("domain", "domain/job.py", "import os.path\n", "imports os.path"),
        ("domain", "domain/job.py", "from time import monotonic\n", "imports time"),
        ("domain", "domain/job.py", "import asyncio\n", "imports asyncio"),
        ("domain", "domain/job.py", "from uuid import uuid4\n", "imports uuid.uuid4"),
        (
            "domain",
            "domain/job.py",
            "from datetime import datetime\nx = datetime.now()\n",
            "domain/job.py:2 calls datetime.now",
        ),
        (
            "domain",
            "domain/job.py",
            "import datetime\nx = datetime.datetime.utcnow()\n",
            "calls datetime.datetime.utcnow",
        ),
        ("domain", "domain/job.py", "import uuid\nx = uuid.uuid4()\n", "calls uuid.uuid4"),
        ("domain", "domain/job.py", "import uuid\nx = uuid.uuid1()\n", "calls uuid.uuid1"),
        ("domain", "domain/job.py", "x = random.random()\n", "calls random.random"),
        ("domain", "domain/job.py", "x = time.time()\n", "calls time.time"),
        (
            "domain",
            "domain/sub/x.py",
            "from ...services import worker\n",
            "imports services.worker",
        ),
        (
            "contracts",
            "contracts/envelope.py",
            "from services.adapters.store import Store\n",
            "imports services.adapters.store",
        ),
        (
            "contracts",
            "contracts/envelope.py",
            "from ..services import cli\n",
            "imports services.cli",
        ),
        (
            "services",
            "services/dispatcher/handlers.py",
            "from services.worker.runner import run\n",
            "imports services.worker.runner",
        ),
        (
            "services",
            "services/dispatcher/handlers.py",
            "from services import reporter\n",
            "imports services.reporter",
        ),
        (
            "services",
            "services/reporter/mailer.py",
            "from ..dispatcher import bootstrap\n",
            "imports services.dispatcher.bootstrap",
        ),
        (
            "services",
            "services/worker/__init__.py",
            "from ..reporter import mailer\n",
            "imports services.reporter.mailer",
        ),
        (
            "services",
            "services/relay/relay.py",
            "from services.dispatcher.view import DispatchView\n",
            "imports services.dispatcher.view",
        ),
        ("adapters", "services/adapters/bus.py", "from services.dispatcher import effects\n", "imports services.disp"),
        ("adapters", "services/adapters/store.py", "from ..cli import views\n", "imports services.cli.views"),
        ("cli", "services/worker/__main__.py", "from services.cli.main import main\n", "imports services.cli.main"),
        ("cli", "services/dispatcher/__main__.py", "from ..cli import run\n", "imports services.cli.run"),
        (
            "size",
            "services/worker/runner.py",
            "def long():\n" + "    x = 1\n" * 50,
            "services/worker/runner.py:1 long has 51 lines",
        ),
        ("size", "domain/job.py", "x = 1\n" * 301, "domain/job.py has 301 lines"),
        (
            "environment",
            "services/worker/runner.py",
            "import os\nx = os.environ['HOME']\n",
            "services/worker/runner.py:2 reads os.environ",
        ),
        (
            "environment",
            "services/cli/main.py",
            "import os\nx = os.getenv('HOME')\n",
            "reads os.getenv",
        ),
        ("environment", "contracts/names.py", "from os import environ\n", "imports os.environ"),
    ],
)
def test_each_rule_reports_a_module_that_breaks_it(rule: str, path: str, source: str, reported: str) -> None:
    found = check(rule, PurePosixPath(path), source)

    assert any(reported in violation for violation in found), found


@pytest.mark.parametrize(
    ("rule", "path", "source"),
    [
        (
            "domain",
            "domain/job.py",
            "from datetime import datetime, timedelta\nfrom uuid import UUID, uuid5\nx = uuid5(UUID(int=0), 'a')\n",
        ),
        (
            "domain",
            "domain/job.py",
            "from eventsourcing.domain import Aggregate\nfrom domain.states import JobStatus\n",
        ),
        ("domain", "domain/job.py", "def f(job, now):\n    return job.start('w', now)\n"),
        ("contracts", "contracts/envelope.py", "from domain.job import Job\nfrom . import names\n"),
        (
            "services",
            "services/dispatcher/handlers.py",
            "from services.adapters import broker\nfrom . import application\n",
        ),
        ("services", "services/worker/runner.py", "from services.worker.handlers import run\n"),
        ("adapters", "services/adapters/amqp.py", "from services.adapters.bus import Bus\nfrom . import topology\n"),
        ("cli", "services/cli/run.py", "from services.adapters import ask\nfrom services.worker import bootstrap\n"),
        ("cli", "services/worker/__main__.py", "from services.worker.bootstrap import main\n"),
        ("size", "services/worker/runner.py", "def short():\n" + "    x = 1\n" * 49 + "x = 1\n" * 250),
        (
            "environment",
            "services/adapters/settings.py",
            "import os\nx = os.environ.get('BATCHQ_AMQP_URL')\n",
        ),
    ],
)
def test_rules_accept_a_module_that_keeps_them(rule: str, path: str, source: str) -> None:
    assert check(rule, PurePosixPath(path), source) == []
