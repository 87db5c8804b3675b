"""A canary stage on the embedded store: new jobs routed by it, and sent back to default when it is aborted."""

from __future__ import annotations

from contracts.commands import AbortCanary, PromoteCanary, StartCanary
from domain.submission import JobDraft
from services.dispatcher.admin import COMMAND_HANDLERS
from tests.unit.domain.builders import draft, job_id
from tests.unit.services.embedded import OPERATOR, Engine


def command(engine: Engine, message: object) -> dict[str, object]:
    return COMMAND_HANDLERS[type(message)](engine.app, message, OPERATOR).result


def test_with_a_full_canary_every_new_job_is_dispatched_to_the_canary_pool(engine: Engine) -> None:
    command(engine, StartCanary(percent=100, reason="v2"))

    effects = engine.submit(draft([JobDraft(job_id(1)), JobDraft(job_id(2))]))

    assert {d.pool for d in effects.dispatch} == {"canary"}
    assert engine.job(job_id(1)).pool == "canary"


def test_an_aborted_canary_sends_its_waiting_jobs_back_to_default(engine: Engine) -> None:
    command(engine, StartCanary(percent=100))
    engine.submit(draft([JobDraft(job_id(1)), JobDraft(job_id(2))]))
    engine.run(job_id(1))  # already done on the canary: stays as it was
    engine.react()

    result = COMMAND_HANDLERS[AbortCanary](engine.app, AbortCanary(reason="errors up"), OPERATOR)

    assert result.result == {"canary": "aborted", "rerouted_jobs": 1}
    assert [(d.job_uuid, d.pool) for d in result.dispatch] == [(job_id(2), "default")]
    assert engine.events(job_id(2))[-1] == "JobRerouted"
    assert engine.job(job_id(1)).pool == "canary"


def test_after_promotion_new_jobs_go_to_default_again(engine: Engine) -> None:
    command(engine, StartCanary(percent=100))
    command(engine, PromoteCanary(reason="v2 is good"))

    effects = engine.submit(draft([JobDraft(job_id(1))]))

    assert {d.pool for d in effects.dispatch} == {"default"}
