"""The deploy files say what CONTRACT.md says: exchanges, queues that dead-letter, users, services.

Each check is a function returning the problems it finds, so the tests can show that a
broken file is caught (the `*_catches_*` tests), not only that the shipped one passes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONTRACT_EXCHANGES = {
    "batchq.manifests": "direct",
    "batchq.commands": "direct",
    "batchq.events": "topic",
    "batchq.jobs": "direct",
}
DEAD_LETTER_EXCHANGE = "batchq.rejected"
WORK_QUEUES = (
    "batchq.dispatcher.manifests",
    "batchq.dispatcher.commands",
    "batchq.jobs.default",
    "batchq.jobs.canary",
)
COMMANDS = ("retry_job", "cancel_job", "delete_batch", "update_reporting")
COMMANDS += ("pause_queue", "resume_queue")
CONTRACT_BINDINGS = {  # the keys CONTRACT.md fixes; event keys are each service's choice
    ("batchq.manifests", "batchq.dispatcher.manifests", "submit"),
    *(("batchq.commands", "batchq.dispatcher.commands", command) for command in COMMANDS),
    ("batchq.jobs", "batchq.jobs.default", "default"),
    ("batchq.jobs", "batchq.jobs.canary", "canary"),
}
# Gone: the dispatcher and the reporter follow the store's log; a leftover queue bound to
# batchq.events would fill for ever.
OBSOLETE_QUEUES = ("batchq.dispatcher.events", "batchq.reporter.events")
CONTRACT_VARIABLES = ("BATCHQ_DATABASE_URL", "BATCHQ_AMQP_URL", "BATCHQ_SMTP_URL")
CONTRACT_VARIABLES += ("BATCHQ_MAIL_FROM",)
TEST_VARIABLES = ("BATCHQ_TEST_DATABASE_URL", "BATCHQ_TEST_AMQP_URL", "BATCHQ_TEST_RABBITMQ_API")


def load_definitions() -> dict[str, Any]:
    return json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())


def load_module(name: str) -> ModuleType:
    """A script of deploy/rabbitmq, which is no package."""
    spec = importlib.util.spec_from_file_location(name, DEPLOY / "rabbitmq" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- definitions.json: topology -----------------------------------------------------------


def topology_problems(definitions: dict[str, Any]) -> list[str]:
    exchanges = {exchange["name"]: exchange for exchange in definitions["exchanges"]}
    queues = {queue["name"]: queue for queue in definitions["queues"]}
    bindings = {
        (binding["source"], binding["destination"], binding["routing_key"]) for binding in definitions["bindings"]
    }
    problems = []
    for name, kind in {**CONTRACT_EXCHANGES, DEAD_LETTER_EXCHANGE: "direct"}.items():
        exchange = exchanges.get(name)
        if exchange is None or exchange["type"] != kind or not exchange["durable"]:
            problems.append(f"exchange {name} missing, not {kind} or not durable")
    problems += [f"queue {name} missing" for name in WORK_QUEUES if name not in queues]
    for name, queue in queues.items():
        if not queue["durable"]:
            problems.append(f"queue {name} is not durable")
        if not name.endswith(".rejected"):
            problems += dead_letter_problems(queue, queues, bindings)
    problems += [f"binding {binding} missing" for binding in sorted(CONTRACT_BINDINGS - bindings)]
    problems += [f"obsolete queue {name} still defined" for name in OBSOLETE_QUEUES if name in queues]
    for source, destination, key in bindings:
        if source not in exchanges or destination not in queues:
            problems.append(f"binding {source} -> {destination} ({key}) names an unknown end")
    return problems


def dead_letter_problems(
    queue: dict[str, Any], queues: dict[str, Any], bindings: set[tuple[str, str, str]]
) -> list[str]:
    name, arguments = queue["name"], queue["arguments"]
    problems = []
    if arguments.get("x-queue-type") != "quorum":
        problems.append(f"queue {name} is not a quorum queue")
    limit = arguments.get("x-delivery-limit")
    if not isinstance(limit, int) or limit < 1:
        problems.append(f"queue {name} has no delivery limit")
    if arguments.get("x-dead-letter-exchange") != DEAD_LETTER_EXCHANGE:
        problems.append(f"queue {name} does not dead-letter to {DEAD_LETTER_EXCHANGE}")
    if f"{name}.rejected" not in queues:
        problems.append(f"queue {name}.rejected missing")
    # Without its own key a dead letter keeps its original one (`default`, `submit`), which
    # no binding of batchq.rejected matches: the message would be lost.
    key = arguments.get("x-dead-letter-routing-key")
    if (DEAD_LETTER_EXCHANGE, f"{name}.rejected", key) not in bindings:
        problems.append(f"{name} dead-letters with key {key!r}, which {name}.rejected is not bound to")
    return problems


def test_definitions_have_the_contract_exchanges_and_queues_that_dead_letter() -> None:
    assert topology_problems(load_definitions()) == []


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["exchanges"].pop(),
        lambda d: d["queues"][0]["arguments"].pop("x-dead-letter-exchange"),
        lambda d: d["queues"][0]["arguments"].pop("x-delivery-limit"),
        lambda d: d["queues"][0]["arguments"].update({"x-dead-letter-routing-key": "default"}),
        lambda d: d["bindings"].pop(),
    ],
    ids=["exchange", "dead-letter-exchange", "delivery-limit", "dead-letter-key", "binding"],
)
def test_topology_check_catches_a_broken_definitions_file(break_it: Any) -> None:
    definitions = copy.deepcopy(load_definitions())
    break_it(definitions)
    assert topology_problems(definitions) != []


def test_definitions_declare_exactly_what_the_services_declare() -> None:
    """RabbitMQ refuses a service's declaration if the boot-time file says otherwise."""
    generator = load_module("generate_definitions")
    expected, shipped = generator.topology_definitions(), load_definitions()
    for section in ("exchanges", "queues", "bindings"):
        assert shipped[section] == expected[section], (
            f"definitions.json's {section} differ from services/adapters/topology.py:"
            " run .venv/bin/python deploy/rabbitmq/generate_definitions.py"
        )


# --- definitions.json: users and permissions ----------------------------------------------


def permission(definitions: dict[str, Any], user: str) -> dict[str, str]:
    [found] = [entry for entry in definitions["permissions"] if entry["user"] == user]
    return found


def allows(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None  # RabbitMQ's own matching: unanchored search


def test_every_user_has_a_sha256_hash_of_the_default_password() -> None:
    hasher, definitions = load_module("hash_password"), load_definitions()
    names = {user["name"] for user in definitions["users"]}
    assert names == {
        "batchq-admin",
        "batchq-service",
        "batchq-relay",
        "batchq-api",
        "batchq-producer",
        "batchq-tenant-admin",
        "batchq-auditor-acme",
    }
    for user in definitions["users"]:
        assert user["hashing_algorithm"] == hasher.ALGORITHM
        assert hasher.verify("change-me", user["password_hash"]), user["name"]
        assert not hasher.verify("something-else", user["password_hash"])


def test_producer_may_only_publish_manifests() -> None:
    producer = permission(load_definitions(), "batchq-producer")
    assert allows(producer["write"], "batchq.manifests")
    for other in ("batchq.commands", "batchq.events", "batchq.jobs", "amq.default"):
        assert not allows(producer["write"], other)
    assert not allows(producer["configure"], "batchq.jobs.default")
    assert not allows(producer["read"], "batchq.jobs.default")


def test_only_the_relay_may_publish_events() -> None:
    definitions = load_definitions()
    writers = [p["user"] for p in definitions["permissions"] if allows(p["write"], "batchq.events")]
    assert sorted(writers) == ["batchq-admin", "batchq-relay"]  # and RabbitMQ's own administrator
    service = permission(definitions, "batchq-service")
    for resource in ("batchq.jobs", "batchq.rejected", "batchq.dispatcher.events", "amq.default"):
        assert allows(service["write"], resource), resource


def test_only_the_api_may_impersonate() -> None:
    tagged = [u["name"] for u in load_definitions()["users"] if "impersonator" in u["tags"]]
    assert tagged == ["batchq-api"]


def test_acme_auditor_reads_only_acme_events() -> None:
    definitions = load_definitions()
    [topic] = [t for t in definitions["topic_permissions"] if t["user"] == "batchq-auditor-acme"]
    assert topic["exchange"] == "batchq.events"
    assert allows(topic["read"], "acme.job.JobFailed")
    assert not allows(topic["read"], "globex.job.JobFailed")
    assert not allows(topic["write"], "acme.job.JobFailed")
    auditor = permission(definitions, "batchq-auditor-acme")
    assert not allows(auditor["read"], "batchq.jobs.default")
    assert not allows(auditor["write"], "batchq.commands")


def test_hash_password_round_trips_and_salts() -> None:
    hasher = load_module("hash_password")
    first, second = hasher.hash_password("s3cret"), hasher.hash_password("s3cret")
    assert first != second
    assert hasher.verify("s3cret", first) and hasher.verify("s3cret", second)


# --- rabbitmq.conf, compose.yaml, env.example, Dockerfile ---------------------------------


def compose_services(text: str) -> dict[str, str]:
    """Each service's block of compose.yaml, by name (a structural read, not a YAML parser)."""
    services_block = re.search(r"^services:\n((?:[ #].*\n|\n)*)", text, re.MULTILINE)
    assert services_block, "compose.yaml has no services:"
    parts = re.split(r"^  ([a-z][\w-]*):\n", services_block.group(1), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def compose_problems(text: str) -> list[str]:
    services = compose_services(text)
    problems = []
    expected = {"postgres", "rabbitmq", "mailpit", "migrate", "dispatcher", "worker", "reporter"}
    problems += [f"service {name} missing" for name in sorted(expected - services.keys())]
    images = {"postgres": "postgres:16", "rabbitmq": "rabbitmq:3.13-management"}
    images["mailpit"] = "axllent/mailpit"
    for name, image in images.items():
        if f"image: {image}\n" not in services.get(name, ""):
            problems.append(f"service {name} does not run {image}")
    for role in ("dispatcher", "worker", "reporter"):
        block = services.get(role, "")
        if f'command: ["run", "{role}"]' not in block or "*after-migrate" not in block:
            problems.append(f"service {role} does not run `batchq run {role}` after migrate")
    if 'command: ["migrate"]' not in services.get("migrate", ""):
        problems.append("service migrate does not run `batchq migrate`")
    if not re.search(r"deploy:\n\s+replicas: \d+", services.get("worker", "")):
        problems.append("service worker has no deploy.replicas")
    after = re.search(r"^x-after-migrate:.*\n((?:  .*\n)+)", text, re.MULTILINE)
    healthy = after.group(1) if after else ""
    for server in ("postgres", "rabbitmq"):
        if not re.search(rf"{server}:\n\s+condition: service_healthy", healthy):
            problems.append(f"services do not wait for a healthy {server}")
    for mounted in ("rabbitmq.conf:", "definitions.json:/etc/rabbitmq/definitions.json"):
        if mounted not in services.get("rabbitmq", ""):
            problems.append(f"rabbitmq does not mount {mounted}")
    return problems


def test_compose_runs_every_service_after_healthy_servers() -> None:
    assert compose_problems((DEPLOY / "compose.yaml").read_text()) == []


def test_compose_check_catches_a_missing_service_and_a_wrong_command() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert compose_problems(text.replace("  reporter:\n", "  reporters:\n")) != []
    assert compose_problems(text.replace('["run", "worker"]', '["run", "dispatcher"]')) != []


def test_rabbitmq_conf_loads_the_mounted_definitions() -> None:
    settings = dict(
        line.split(" = ", 1)
        for line in (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert f"./rabbitmq/definitions.json:{settings['load_definitions']}:ro" in (DEPLOY / "compose.yaml").read_text()
    assert int(settings["consumer_timeout"]) >= 1_800_000


def test_env_example_lists_every_variable_with_a_comment() -> None:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    for variable in CONTRACT_VARIABLES:
        [index] = [i for i, line in enumerate(lines) if line.startswith(f"{variable}=")]
        assert lines[index - 1].startswith("#"), f"{variable} has no comment"
    for variable in TEST_VARIABLES:
        assert any(line.startswith(f"# {variable}=") for line in lines), variable


def test_image_runs_batchq_with_the_worker_by_default() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert '\nENTRYPOINT ["batchq"]\n' in dockerfile
    assert '\nCMD ["run", "worker"]\n' in dockerfile


def test_the_brokers_message_size_limit_is_batchqs() -> None:
    """RabbitMQ refuses a publish past `max_message_size`; batchq refuses the same size past its own limit."""
    from contracts.manifest import Limits
    from services.adapters.settings import Settings

    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    [line] = [line for line in conf.splitlines() if line.startswith("max_message_size")]
    broker_limit = int(line.split("=", 1)[1])
    assert broker_limit == Settings().max_message_bytes == Limits().max_message_bytes == 16 * 1024 * 1024


# --- prometheus alerts.yml, grafana ------------------------------------------------------------

ALERT_VARIABLES = {  # the rules' `variable` annotation → the AlertSettings field whose default it must use
    "BATCHQ_ALERT_QUEUE_DEPTH": "queue_depth",
    "BATCHQ_ALERT_OLDEST_PENDING_SECONDS": "oldest_pending_seconds",
    "BATCHQ_ALERT_STUCK_JOBS": "stuck_jobs",
    "BATCHQ_ALERT_FAILURE_RATE": "failure_rate",
    "BATCHQ_ALERT_ABANDONED_JOBS": "abandoned_jobs",
    "BATCHQ_ALERT_REFUSED_PER_MINUTE": "refused_per_minute",
    "BATCHQ_ALERT_LAG_EVENTS": "lag_events",
}


def alert_rule_problems(text: str) -> list[str]:
    """Each rule's first `> N` is the default of the variable it names (a structural read, not YAML)."""
    from services.adapters.settings import AlertSettings

    defaults = AlertSettings()
    rules = re.split(r"^      - alert: ", text, flags=re.MULTILINE)[1:]
    problems, named = [], set()
    for rule in rules:
        name = rule.split("\n", 1)[0]
        variable = re.search(r"variable: (BATCHQ_\w+)", rule)
        threshold = re.search(r"> ([0-9.]+)", rule)
        if not variable or not threshold or variable.group(1) not in ALERT_VARIABLES:
            problems.append(f"{name}: no known variable or threshold")
            continue
        named.add(variable.group(1))
        expected = float(getattr(defaults, ALERT_VARIABLES[variable.group(1)]))
        if float(threshold.group(1)) != expected:
            problems.append(f"{name}: threshold {threshold.group(1)}, {variable.group(1)} defaults to {expected:g}")
    problems += [f"no rule for {v}" for v in sorted(set(ALERT_VARIABLES) - named)]
    return problems


def test_prometheus_alert_rules_use_the_same_thresholds_as_batchq() -> None:
    assert alert_rule_problems((DEPLOY / "prometheus" / "alerts.yml").read_text()) == []


def test_alert_rule_check_catches_a_threshold_that_drifted() -> None:
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    assert alert_rule_problems(text.replace("batchq_queue_depth > 1000", "batchq_queue_depth > 999")) != []


def test_compose_runs_the_api_prometheus_and_grafana_with_the_shipped_files() -> None:
    services = compose_services((DEPLOY / "compose.yaml").read_text())
    assert 'command: ["run", "api"]' in services["api"] and "*after-migrate" in services["api"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml" in services["prometheus"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards" in services["grafana"]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "batchq.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("batchq_jobs", "batchq_queue_depth", "batchq_job_duration_seconds_bucket", "batchq_alert_firing"):
        assert metric in exprs, metric
