"""The heartbeat: run every check (concurrently, each under a time limit), then alerts, bounded
recovery and history; once (`nexus heartbeat --once`) or on an interval (`--service`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from nexus.config.settings import Settings
from nexus.ops import systemd
from nexus.ops.alerts import Alert, Alerter, AlertSink, LogSink, TelegramSink, WebhookSink
from nexus.ops.checks import (
    BudgetsCheck,
    DatabaseCheck,
    GatewayCheck,
    ProvidersCheck,
    RedisCheck,
    StuckRunsCheck,
)
from nexus.ops.history import History
from nexus.ops.jobs import JobsCheck, JobsProbe
from nexus.ops.jobs_probe import StoreJobsProbe
from nexus.ops.recovery import (
    Action,
    ActionResult,
    FreeDisk,
    MarkStuckRuns,
    ReclaimStuckJobs,
    Recovery,
    Restartable,
    RestartUI,
    UICheck,
)
from nexus.ops.system import DiskCheck, GpuCheck, MemoryCheck
from nexus.ops.types import EXIT_CODES, Check, CheckResult, State, worst
from nexus.store import Store, open_store
from nexus.store.models import utcnow

log = logging.getLogger("nexus.ops.heartbeat")


@dataclass
class Report:
    results: list[CheckResult]
    ts: datetime
    alerts: list[Alert] = field(default_factory=list)
    actions: list[ActionResult] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def worst(self) -> State:
        return worst(r.state for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 when everything is ok (or skipped), 1 for a warning, 2 for a critical state."""
        return EXIT_CODES[self.worst]


class Heartbeat:
    def __init__(
        self,
        checks: Sequence[Check],
        *,
        timeout_s: float,
        history: History | None = None,
        alerter: Alerter | None = None,
        recovery: Recovery | None = None,
    ) -> None:
        self.checks = list(checks)
        self.timeout_s = timeout_s
        self.history = history
        self.alerter = alerter
        self.recovery = recovery
        self.last: Report | None = None

    async def _one(self, check: Check) -> list[CheckResult]:
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(check.run(), timeout=self.timeout_s * 3)
        except TimeoutError:
            detail = f"no answer within {self.timeout_s * 3:.0f} s"
        except Exception as exc:  # a check that breaks is itself a critical finding
            log.exception("check failed", extra={"check": check.name})
            detail = f"check failed: {type(exc).__name__}"
        ms = round((time.perf_counter() - started) * 1000, 2)
        return [CheckResult(check.name, "critical", detail, ms)]

    async def run_once(self) -> Report:
        started = time.perf_counter()
        groups = await asyncio.gather(*(self._one(c) for c in self.checks))
        report = Report([r for g in groups for r in g], utcnow())
        if self.alerter is not None:
            report.alerts = await self.alerter.observe(report.results)
        if self.recovery is not None:
            report.actions = await self.recovery.observe(report.results)
        if self.history is not None:
            actions = [
                CheckResult(
                    f"recovery:{a.action}", "ok" if a.ok else "warning", a.outcome, data={"for": a.check}
                )
                for a in report.actions
            ]
            await self.history.record([*report.results, *actions], report.ts)
        report.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        self.last = report
        return report

    async def serve(self, stop: asyncio.Event, interval_s: float) -> None:
        """Run every `interval_s` until `stop`; tells systemd it is ready, alive, and the worst state."""
        systemd.notify("READY=1")
        while not stop.is_set():
            report = await self.run_once()
            systemd.notify("WATCHDOG=1", f"STATUS=worst state: {report.worst}")
            log.info("heartbeat", extra={"worst": report.worst, "elapsed_ms": report.elapsed_ms})
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass


def _chat_ids(spec: str) -> list[int]:
    return [int(x) for x in (p.strip() for p in spec.split(",")) if x.lstrip("-").isdigit()]


def alert_sinks(settings: Settings, *, telegram: bool) -> list[AlertSink]:
    sinks: list[AlertSink] = [LogSink()]
    if settings.heartbeat_alert_webhook:
        sinks.append(WebhookSink(settings.heartbeat_alert_webhook, settings.heartbeat_timeout_s * 2))
    token = settings.secret("TELEGRAM_BOT_TOKEN")
    chats = _chat_ids(settings.heartbeat_alert_chats)
    if telegram:
        if not token or not chats:
            raise ValueError(
                "--enable-telegram needs TELEGRAM_BOT_TOKEN and NEXUS_HEARTBEAT_ALERT_CHATS (chat ids)"
            )
        sinks.append(TelegramSink(token, settings.telegram_base_url, chats))
    return sinks


def default_checks(
    settings: Settings,
    store: Store,
    hub: object,
    *,
    jobs: JobsProbe | None,
    ui_url: str | None,
    gateway_url: str | None = None,
) -> list[Check]:
    from nexus.providers.hub import ModelHub

    assert isinstance(hub, ModelHub)
    gateway = gateway_url or settings.heartbeat_gateway_url or f"http://{settings.host}:{settings.port}"
    checks: list[Check] = [
        GatewayCheck(gateway, settings),
        DatabaseCheck(store, settings),
        RedisCheck(settings.redis_url, settings),
        ProvidersCheck(hub, settings),
        JobsCheck(jobs, settings),
        StuckRunsCheck(store, settings),
        BudgetsCheck(store, settings),
        DiskCheck(settings.data_dir, settings),
        MemoryCheck(settings),
        GpuCheck(settings),
    ]
    if ui_url:
        checks.append(UICheck(ui_url, settings))
    return checks


@asynccontextmanager
async def open_heartbeat(
    settings: Settings,
    *,
    telegram: bool = False,
    recovery: bool = False,
    jobs: JobsProbe | None = None,
    ui: Restartable | None = None,
    ui_url: str | None = None,
    store: Store | None = None,
) -> AsyncIterator[Heartbeat]:
    """The heartbeat with the configured checks, alert sinks and (when asked) recovery actions.

    `jobs`: the job system's probe (queue lag, stuck jobs, reclaim). `ui`: a UI this process
    supervises (restarted when `ui_url` stops answering). Without them those parts report skipped.
    """
    from nexus.providers.hub import ModelHub

    own_store = store is None
    the_store = store or await open_store(settings)
    jobs = jobs if jobs is not None else StoreJobsProbe(the_store)
    hub = ModelHub(settings)
    hub.load()
    try:
        actions: list[Action] = [MarkStuckRuns(the_store, settings), FreeDisk(the_store, settings)]
        if jobs is not None:
            actions.append(ReclaimStuckJobs(jobs))
        if ui is not None:
            actions.append(RestartUI(ui))
        yield Heartbeat(
            default_checks(settings, the_store, hub, jobs=jobs, ui_url=ui_url if ui_url else None),
            timeout_s=settings.heartbeat_timeout_s,
            history=History(the_store, settings.heartbeat_history_days),
            alerter=Alerter(alert_sinks(settings, telegram=telegram), settings.heartbeat_alert_cooldown_s),
            recovery=Recovery(actions, settings.heartbeat_recovery_attempts) if recovery else None,
        )
    finally:
        await hub.aclose()
        if own_store:
            await the_store.close()
