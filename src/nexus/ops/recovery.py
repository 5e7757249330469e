"""Bounded, idempotent, logged recovery: each action runs at most N times per incident of the check it
answers (the count resets when the check passes), and only on what this process may touch.

- reclaim stuck jobs (through the job system's JobsProbe),
- mark stuck pipeline runs interrupted (failed, incomplete: as a restart does for a dead process),
- prune old data and temp files when the disk runs low,
- restart the supervised UI when it stops answering (only a UI this process supervises).

It never kills a process it did not start; restarting the gateway is the supervisor's (systemd's
Restart=on-failure and the watchdog, see deploy/systemd/).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import httpx

from nexus.config.settings import Settings
from nexus.ops.checks import STUCK_STATUSES
from nexus.ops.jobs import JobsProbe
from nexus.ops.types import CheckResult, State
from nexus.store import Store, TenantScope
from nexus.store.models import WorkOrder, utcnow
from nexus.store.prune import checkpoint_pruner_for

log = logging.getLogger("nexus.ops.recovery")
RECLAIM_BATCH = 100


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: str
    check: str
    attempt: int
    outcome: str
    ok: bool = True


class Action(Protocol):
    name: str
    check: str  # the check whose failure calls for this action (a prefix ending in ':' matches a family)

    async def run(self, result: CheckResult) -> str: ...


class ReclaimStuckJobs:
    name = "reclaim_stuck_jobs"
    check = "stuck_jobs"

    def __init__(self, probe: JobsProbe) -> None:
        self.probe = probe

    async def run(self, result: CheckResult) -> str:
        n = await self.probe.reclaim_stuck(RECLAIM_BATCH)
        return f"{n} stuck job(s) handed back to the queue"


class MarkStuckRuns:
    name = "mark_stuck_runs"
    check = "stuck_runs"

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.after_s = settings.heartbeat_stuck_run_s

    async def run(self, result: CheckResult) -> str:
        repo = self.store.work_orders(TenantScope.system())
        now = utcnow()
        n = await repo.run(
            repo.update()
            .where(
                WorkOrder.status.in_(STUCK_STATUSES),
                WorkOrder.updated_at < now - timedelta(seconds=self.after_s),
            )
            .values(
                status="failed",
                incomplete=True,
                error=f"interrupted: no progress for {self.after_s:.0f} s (heartbeat)",
                updated_at=now,
                finished_at=now,
            )
        )
        return f"{n} stuck run(s) marked interrupted"


class FreeDisk:
    """Retention pruning now (rows older than NEXUS_RETENTION_DAYS and their checkpoints) and Nexus's
    own temp files older than NEXUS_HEARTBEAT_TEMP_MAX_AGE_H (under <data dir>/tmp only)."""

    name = "free_disk"
    check = "disk"

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.days = settings.retention_days
        self.tmp = settings.data_dir / "tmp"
        self.max_age_s = settings.heartbeat_temp_max_age_h * 3600

    def _temp_files(self) -> tuple[int, int]:
        if not self.tmp.is_dir():
            return 0, 0
        cutoff = time.time() - self.max_age_s
        n = freed = 0
        for path in self.tmp.rglob("*"):
            try:
                st = path.lstat()
                if path.is_file() and not path.is_symlink() and st.st_mtime < cutoff:
                    path.unlink()
                    n, freed = n + 1, freed + st.st_size
            except OSError:
                continue  # gone already, or not ours to remove
        return n, freed

    async def run(self, result: CheckResult) -> str:
        rows = 0
        if self.days > 0:
            pruned = await self.store.prune(
                self.days, checkpoint_pruner=checkpoint_pruner_for(self.store.engine)
            )
            rows = sum(pruned.deleted.values())
        files, freed = await asyncio.to_thread(self._temp_files)
        return f"pruned {rows} row(s) older than {self.days} d; removed {files} temp file(s), {freed} bytes"


class Restartable(Protocol):
    def restart(self) -> None: ...


class SupervisedUI:
    """The UI child process of `nexus serve`'s UISupervisor, restarted through the supervisor itself."""

    def __init__(self, supervisor: object) -> None:
        self.supervisor = supervisor

    def restart(self) -> None:
        self.supervisor.stop()  # type: ignore[attr-defined]
        self.supervisor.start()  # type: ignore[attr-defined]


class UICheck:
    name = "ui"

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url.rstrip("/") + "/_stcore/health"
        self.timeout = settings.heartbeat_timeout_s

    async def run(self) -> list[CheckResult]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                r = await client.get(self.url)
        except httpx.HTTPError as exc:
            return [CheckResult(self.name, "warning", f"not answering: {type(exc).__name__}")]
        state: State = "ok" if r.status_code == 200 else "warning"
        return [CheckResult(self.name, state, f"HTTP {r.status_code}")]


class RestartUI:
    name = "restart_ui"
    check = "ui"

    def __init__(self, ui: Restartable) -> None:
        self.ui = ui

    async def run(self, result: CheckResult) -> str:
        await asyncio.to_thread(self.ui.restart)
        return "UI restarted through its supervisor"


def _matches(action: Action, name: str) -> bool:
    return name == action.check or (action.check.endswith(":") and name.startswith(action.check))


@dataclass
class Recovery:
    actions: list[Action]
    max_attempts: int
    _attempts: dict[tuple[str, str], int] = field(default_factory=dict)

    async def observe(self, results: Sequence[CheckResult]) -> list[ActionResult]:
        done: list[ActionResult] = []
        for r in results:
            for action in self.actions:
                if not _matches(action, r.name):
                    continue
                key = (action.name, r.name)
                if not r.failing:
                    self._attempts.pop(key, None)  # the incident is over: the next one gets fresh attempts
                    continue
                attempt = self._attempts.get(key, 0) + 1
                if attempt > self.max_attempts:
                    continue
                self._attempts[key] = attempt
                try:
                    outcome = await action.run(r)
                    ok = True
                except Exception as exc:
                    outcome, ok = f"failed: {type(exc).__name__}: {exc}", False
                log.warning(
                    "recovery action",
                    extra={"action": action.name, "check": r.name, "attempt": attempt, "outcome": outcome},
                )
                done.append(ActionResult(action.name, r.name, attempt, outcome, ok))
                if attempt == self.max_attempts:
                    log.error(
                        "recovery attempts used up for this incident; a person is needed",
                        extra={"action": action.name, "check": r.name},
                    )
        return done
