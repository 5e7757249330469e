"""Everything nexus.jobs runs in one process: the queue (every process), and, where jobs execute (a
worker, or the embedded gateway without Redis), the runner, the dispatcher/recovery loop and optionally
the scheduler.

    engine = await JobEngine.start(settings, store, role="gateway", services=services)
    job_id = await engine.queue.enqueue("callback", {...}, tenant=scope)
    ...
    await engine.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any

from taskiq import AsyncBroker, Context, InMemoryBroker, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from nexus.config.settings import Settings
from nexus.jobs import callbacks as _callbacks  # noqa: F401  (registers the built-in kinds)
from nexus.jobs import maintenance as _maintenance  # noqa: F401
from nexus.jobs import work_orders as _work_orders  # noqa: F401
from nexus.jobs.broker import JobStreamBroker, make_broker
from nexus.jobs.instance import InstanceLease
from nexus.jobs.metrics import JobMetrics
from nexus.jobs.queue import TASK_NAME, JobQueue
from nexus.jobs.runner import SYSTEM, JobRunner
from nexus.jobs.scheduler import Scheduler
from nexus.store import Store
from nexus.store.models import WorkOrder, utcnow

log = logging.getLogger("nexus.jobs")


class JobEngine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        instance: InstanceLease,
        broker: AsyncBroker,
        queue: JobQueue,
        metrics: JobMetrics,
        runner: JobRunner | None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.instance = instance
        self.broker = broker
        self.queue = queue
        self.metrics = metrics
        self.runner = runner
        self.scheduler: Scheduler | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._finish = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self.listen_failures = 0
        self.on_recovered: list[Callable[[Sequence[WorkOrder]], Awaitable[Any]]] = []

    @classmethod
    async def start(
        cls,
        settings: Settings,
        store: Store,
        *,
        role: str,
        services: Any = None,
        execute: bool | None = None,
        schedule: bool | None = None,
        concurrency: int | None = None,
    ) -> JobEngine:
        """`execute`: run jobs here (default: only when there is no Redis, i.e. the embedded default).
        `schedule`: run the scheduler loop here (default: same as the embedded default)."""
        embedded = not settings.redis_url
        execute = embedded if execute is None else execute
        schedule = (embedded and execute) if schedule is None else schedule
        n = concurrency or settings.jobs_concurrency
        instance = await InstanceLease(store, role=role, lease_s=settings.jobs_lease_s).start()
        broker = make_broker(settings, consumer_name=instance.id, concurrency=n)
        metrics = JobMetrics()
        holder: dict[str, JobRunner] = {}

        async def run_job(job_id: str, context: Annotated[Context, TaskiqDepends()]) -> None:
            runner = holder.get("runner")
            if runner is None:  # a client-only process never consumes; be safe if it ever does
                return
            if await runner.run(job_id) and context.is_ackable:
                await context.ack()

        task = broker.register_task(run_job, task_name=TASK_NAME, ack_type=AcknowledgeType.MANUAL.value)
        queue = JobQueue(store, settings, broker, task)
        runner = None
        if execute:
            runner = JobRunner(
                store,
                settings,
                instance_id=instance.id,
                services=services,
                send=queue.send,
                metrics=metrics,
                # The in-process broker starts a task per message: bound them here.
                concurrency=n if isinstance(broker, InMemoryBroker) else None,
            )
            holder["runner"] = runner
        engine = cls(settings, store, instance, broker, queue, metrics, runner)
        try:
            await broker.startup()
            if runner is not None:
                await engine._start_executing(n)
            if schedule:
                engine.scheduler = Scheduler(store, queue, settings, holder_id=instance.id)
                engine._tasks.append(
                    asyncio.create_task(engine.scheduler.run(engine._finish), name="jobs:scheduler")
                )
        except BaseException:
            await engine.close(grace_s=0)
            raise
        log.info(
            "jobs: %s broker, %s, instance %s",
            queue.backend,
            f"executing up to {n} at once" if runner else "enqueue only",
            instance.id,
        )
        return engine

    async def _start_executing(self, concurrency: int) -> None:
        assert self.runner is not None
        self.instance.on_beat.append(self._renew_running)
        if isinstance(self.broker, InMemoryBroker):
            # Messages of the in-process broker died with the last process: send every queued job again.
            await self.store.jobs(SYSTEM).forget_dispatch()
        else:
            self._listener = asyncio.create_task(self._listen(concurrency), name="jobs:receiver")
        self._tasks.append(asyncio.create_task(self._maintain(), name="jobs:maintenance"))

    async def _listen(self, concurrency: int) -> None:
        """taskiq's receiver, restarted after a broker failure (Redis restarting) until shutdown."""
        delay = 0.5
        while not self._finish.is_set():
            receiver = Receiver(
                self.broker,
                max_async_tasks=concurrency,
                max_prefetch=0,
                propagate_exceptions=False,
                run_startup=False,
                ack_type=AcknowledgeType.MANUAL,
                wait_tasks_timeout=self.settings.jobs_shutdown_grace_s,
            )
            try:
                await receiver.listen(self._finish)
                return
            except asyncio.CancelledError:
                if self._finish.is_set():
                    return
                raise
            except Exception as exc:
                self.listen_failures += 1
                log.warning("job consumer stopped (%s); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _renew_running(self) -> None:
        assert self.runner is not None
        until = utcnow() + timedelta(seconds=self.settings.jobs_lease_s)
        lost = await self.store.jobs(SYSTEM).extend_leases(self.instance.id, until, list(self.runner.running))
        self.runner.stop_cancelled(lost)

    async def tick(self) -> None:
        """One maintenance pass: recover dead workers' jobs, then send every due job its message."""
        assert self.runner is not None
        jobs = self.store.jobs(SYSTEM)
        now = utcnow()
        for row in await jobs.expired(now):
            await self.runner.recover(row)
        stale = now - timedelta(seconds=self.settings.jobs_redispatch_s)
        for job_id, priority in await jobs.take_due(now, stale):
            await self.queue.send(job_id, priority)

    async def recover_work_orders(self) -> int:
        """Work orders of instances whose lease expired → failed, incomplete (never live instances');
        `on_recovered` hooks (the runtime's: end those runs' traces) get them."""
        orders = await self.store.work_orders(SYSTEM).interrupt_dead(unowned=False)
        for hook in self.on_recovered if orders else ():
            await hook(orders)
        return len(orders)

    async def _maintain(self) -> None:
        poll = self.settings.jobs_poll_s
        every = max(1, int(self.settings.jobs_lease_s / poll))
        n = 0
        while not self._finish.is_set():
            try:
                await self.tick()
                if n % every == 0:
                    await self.recover_work_orders()
            except Exception as exc:  # the database or Redis blipped: try again next round
                log.warning("jobs maintenance pass failed: %s", exc)
            n += 1
            await _sleep_unless(self._finish, poll)

    @property
    def ready(self) -> bool:
        listening = self._listener is None or not self._listener.done()
        return self.instance.healthy and listening

    async def close(self, grace_s: float | None = None) -> None:
        """Stop taking jobs, let running ones finish for `grace_s`, hand the rest back, leave the lease."""
        grace = self.settings.jobs_shutdown_grace_s if grace_s is None else grace_s
        if self.runner is not None:
            self.runner.begin_shutdown()
        self._finish.set()
        if self._listener is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(self._listener, timeout=grace + 5)
        if self.runner is not None and self.runner.active:
            tasks = list(self.runner.active)
            await asyncio.wait(tasks, timeout=grace if self._listener is None else 0.01)
            for t in tasks:
                t.cancel()  # the runner hands each back to the queue, attempt uncounted
            await asyncio.gather(*tasks, return_exceptions=True)
        # The loops end at their next wait; cancelling one mid-query would only leave a broken connection.
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=5.0)
            for t in stuck:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.scheduler is not None:
            await self.scheduler.release()
        if isinstance(self.broker, JobStreamBroker):
            with contextlib.suppress(Exception):
                moved = await self.broker.hand_off()
                if moved:
                    log.info("handed %d unfinished job message(s) back to the stream", moved)
        with contextlib.suppress(Exception):
            await self.broker.shutdown()
        await self.instance.stop()


async def _sleep_unless(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
