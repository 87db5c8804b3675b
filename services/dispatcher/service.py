"""The dispatcher process: intake of manifests and commands, reactions, dispatch, recovery.

Thin handlers: decode, one application call on the dispatcher's own thread, act
on the returned effects. It also runs the relay (it leads, by advisory lock, so
one relay publishes at a time) and the scan for orphaned and stuck jobs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from contracts import names
from contracts.commands import Command
from contracts.envelope import EventHeading
from contracts.errors import ContractError, ErrorCode
from contracts.jobs import chunks, encode_job_message
from contracts.manifest import Limits, Submission, check_limits, check_message_size, content_fingerprint
from contracts.parsing import decode
from domain.access import Action
from domain.errors import DomainError
from domain.retry import BackoffPolicy
from domain.submission import BatchDraft
from services.adapters.bus import Bus, Delivery, Message, Verdict
from services.adapters.follower import LogFollower
from services.adapters.lifecycle import Service, spared_by_collector
from services.adapters.locks import Locks
from services.adapters.logging import get_logger
from services.adapters.replies import accept, refuse
from services.adapters.settings import Settings
from services.adapters.store import EventStore
from services.dispatcher.address_policy import AllowedNetworks
from services.dispatcher.admin import COMMAND_HANDLERS
from services.dispatcher.application import Dispatcher, Effects
from services.dispatcher.drafts import to_draft
from services.dispatcher.job_id_lookup import JobIdLookup
from services.dispatcher.manifests import fetch_manifest
from services.dispatcher.recovery import WorkerScan
from services.dispatcher.retention import RetentionSweep
from services.dispatcher.view import DispatchView

log = get_logger("batchq.dispatcher")

STOP_SECONDS = 10.0
# The dispatcher hears only outcomes, from the store's log: every other job event it records itself.
OUTCOME_TYPES = ("JobCompleted", "JobFailed")
R = TypeVar("R")


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_routing_key(delivery: Delivery, expected: str) -> None:
    """A message that came by its exchange's alternate exchange, or under another message's name, is refused."""
    if delivery.routing_key != expected:
        raise ContractError(
            ErrorCode.INVALID_MESSAGE,
            f"routing key {delivery.routing_key!r} does not name this message: expected {expected!r}",
        )


class DispatcherService:
    def __init__(
        self, settings: Settings, store: EventStore, bus: Bus, locks: Locks, relay: Service
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.locks = locks
        self.fetchable = AllowedNetworks.parse(settings.manifest_allowed_networks)
        self.limits = Limits(
            max_jobs=settings.max_jobs,
            max_manifest_bytes=settings.max_manifest_bytes,
            max_message_bytes=settings.max_message_bytes,
        )
        backoff = BackoffPolicy(settings.retry_base_seconds, settings.retry_cap_seconds)
        self.app = Dispatcher(store, DispatchView(), utcnow, random.random, backoff)
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="dispatcher")
        self.relay = relay
        self.scan = WorkerScan(self.app, locks, self._call, settings, bus.waiting)
        self.stopping = asyncio.Event()
        self.leading = asyncio.Event()
        self.succession: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.wakeups: set[asyncio.Task[None]] = set()
        self.follower = LogFollower(store, OUTCOME_TYPES, self._heard)

    async def _call(self, func: Callable[..., R], *args: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(self.thread, func, *args)

    async def start(self) -> None:
        await self.bus.connect()
        await self.locks.lead()  # one active dispatcher; others wait here as standbys
        await self._begin_leading()
        self.succession = asyncio.create_task(self._keep_leading())
        log.info("dispatcher_started")

    async def _begin_leading(self) -> None:
        """Rebuild the view from the store, then relay, follow the log, scan and consume: the leader's work."""
        effects, position = await self._call(self._rebuild_view)
        await self._carry_out(effects)
        await self.relay.start()
        sweep = RetentionSweep(self.settings, self._expire, utcnow)
        follow = self.follower.run(position, self.leading)
        work = (follow, self._scan_forever(self.leading), sweep.forever(self.leading))
        self.tasks = [asyncio.create_task(t) for t in work]
        self.leading.set()
        await self.bus.consume(names.DISPATCHER_MANIFESTS_QUEUE, self.on_manifest, prefetch=2)
        await self.bus.consume(names.DISPATCHER_COMMANDS_QUEUE, self.on_command, prefetch=8)

    def _rebuild_view(self) -> tuple[Effects, int]:
        """The view as the store has it, and the position to follow the log from (taken first: nothing is missed)."""
        position = self.store.max_position()
        self.app.view = DispatchView()  # on the dispatcher's thread, like every use of the view
        return self.app.rebuild(), position

    async def _end_leading(self) -> None:
        for queue in (names.DISPATCHER_MANIFESTS_QUEUE, names.DISPATCHER_COMMANDS_QUEUE):
            with contextlib.suppress(Exception):  # a consumer on a dropped channel is gone already
                await self.bus.stop_consuming(queue)
        await self.relay.stop()
        self.leading.clear()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _keep_leading(self) -> None:
        """A leader whose lock connection drops stops leading, then waits to lead again.

        Another dispatcher may have taken over meanwhile; if none has, this one
        takes the lock back as soon as the database answers and carries on from
        what the store says, as a restarted dispatcher would.
        """
        while not self.stopping.is_set():
            await self.locks.lost()
            log.warning("leadership_lost_stepping_down")
            await self._end_leading()
            await self.locks.lead()
            while not await self._try_to_begin_leading():
                await asyncio.sleep(1.0)
            log.info("leadership_regained")

    async def _try_to_begin_leading(self) -> bool:
        try:
            await self._begin_leading()
        except Exception as error:  # the database or broker is still settling: try again shortly
            log.warning("leading_not_resumed_yet", reason=repr(error)[:300])
            with contextlib.suppress(Exception):
                await self._end_leading()
            return False
        return True

    async def stop(self) -> None:
        self.stopping.set()
        if self.succession is not None:
            self.succession.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.succession
        if self.leading.is_set():
            await self._end_leading()
        await self.bus.close()
        await self.locks.close()
        self.thread.shutdown(wait=False)  # anything unfinished is redone from the store on restart
        self.app.lookups.close()
        log.info("dispatcher_stopped")

    # -- handlers ----------------------------------------------------------------

    async def on_manifest(self, delivery: Delivery) -> Verdict:
        try:
            with spared_by_collector() as spare:
                check_routing_key(delivery, names.SUBMIT_ROUTING_KEY)
                check_message_size(len(delivery.body), self.limits)
                submission = decode(Submission, delivery.body)
                # Before anything is fetched or stored: whoever may not submit for the tenant costs nothing.
                await self._call(self.app.authorize, delivery.user_id, Action.SUBMIT, submission.tenant)
                jobs = submission.jobs
                if jobs is None:
                    jobs = await fetch_manifest(
                        str(submission.manifest_url), self.limits, self.settings.http_timeout_seconds, self.fetchable
                    )
                check_limits(jobs, self.limits)
                spare()  # the job specs live until the intake ends: see `spared_by_collector`
                lookup = self.app.look_up_job_ids([spec.job_uuid for spec in jobs])  # answered while drafting
                draft = to_draft(submission, jobs, content_fingerprint(submission))
                spare()
                effects = await self._take_in(draft, lookup)
        except (ContractError, DomainError) as error:
            return await refuse(self.bus, delivery, error, in_place=self._oversized(delivery))
        return await accept(self.bus, delivery, effects.result)

    async def _take_in(self, draft: BatchDraft, lookup: JobIdLookup) -> Effects:
        """Intake on the dispatcher's thread; each part it has saved is dispatched on the loop
        meanwhile. Acknowledged (by the caller) only once every part is saved and dispatched."""
        loop = asyncio.get_running_loop()
        parts: list[concurrent.futures.Future[None]] = []

        def on_part(effects: Effects) -> None:
            parts.append(asyncio.run_coroutine_threadsafe(self._carry_out(effects), loop))

        try:
            effects = await self._call(self.app.submit, draft, on_part, lookup)
        finally:
            for part in parts:
                await asyncio.wrap_future(part)
        return effects

    async def on_command(self, delivery: Delivery) -> Verdict:
        try:
            check_message_size(len(delivery.body), self.limits)
            command: Any = decode(Command, delivery.body)
            check_routing_key(delivery, command.command)
            requested_by = delivery.user_id  # validated by RabbitMQ; never the body's word
            effects = await self._call(COMMAND_HANDLERS[type(command)], self.app, command, requested_by)
        except (ContractError, DomainError) as error:
            return await refuse(self.bus, delivery, error, in_place=self._oversized(delivery))
        log.info(
            "command_done",
            command=command.command,
            requested_by=requested_by,
            result=effects.result,
            **self._pseudonymous(effects.provenance),
        )
        await self._carry_out(effects)
        return await accept(self.bus, delivery, effects.result)

    def _pseudonymous(self, ids: dict[str, str]) -> dict[str, str]:
        """A depositor's batch or job is logged with the keyed hash of its depositor, never the `user_id`."""
        if ids.get("batch_id", "-") == "-" or "user_id" not in ids:
            return ids
        ids = dict(ids)
        ids["subject_ref"] = self.store.sealer.subject_ref(ids["tenant"], ids.pop("user_id"))
        return ids

    def _oversized(self, delivery: Delivery) -> bool:
        """Too big to copy again for a dead letter of our own: the broker dead-letters it."""
        return len(delivery.body) > self.limits.max_message_bytes

    async def _heard(self, heard: list[EventHeading]) -> None:
        """Outcomes the workers recorded, as the log follower reads them."""
        effects = await self._call(self.app.jobs_changed, heard)
        await self._carry_out(effects)

    # -- effects -----------------------------------------------------------------

    async def _carry_out(self, effects: Effects) -> None:
        if effects.dispatch:
            by_pool: dict[str, list[uuid.UUID]] = {}
            for dispatch in effects.dispatch:
                by_pool.setdefault(dispatch.pool, []).append(dispatch.job_uuid)
            messages = [
                Message(routing_key=pool, body=encode_job_message(group))
                for pool, job_uuids in by_pool.items()
                for group in chunks(job_uuids)
            ]
            await self.bus.publish_many(names.JOBS_EXCHANGE, messages)
        loop = asyncio.get_running_loop()
        for job_uuid, due in effects.timers:
            delay = max(0.0, (due - utcnow()).total_seconds())
            loop.call_later(delay, self._wake, job_uuid)

    def _wake(self, job_uuid: uuid.UUID) -> None:
        if self.leading.is_set():
            task = asyncio.create_task(self._retry_due(job_uuid))
            self.wakeups.add(task)
            task.add_done_callback(self.wakeups.discard)

    async def _expire(self, batch_ids: list[uuid.UUID], now: datetime) -> list[uuid.UUID]:
        return await self._call(self.app.expire_personal_data, batch_ids, now)

    async def _retry_due(self, job_uuid: uuid.UUID) -> None:
        await self._carry_out(await self._call(self.app.retry_due, job_uuid))

    async def _scan_forever(self, leading: asyncio.Event) -> None:
        while leading.is_set():
            try:
                effects = await self.scan.scan(utcnow())
                await self._carry_out(effects)
            except Exception:
                log.exception("scan_failed")
            await asyncio.sleep(self.settings.scan_seconds)
