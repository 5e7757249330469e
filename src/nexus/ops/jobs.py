"""The background-job queue as the heartbeat sees it: lag, stuck jobs, and reclaiming them.

A small seam: the job system (nexus.jobs) implements `JobsProbe`; until one is given, the check says
"not configured" (skipped) and the reclaim action has nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nexus.config.settings import Settings
from nexus.ops.types import CheckResult, by_threshold, worst


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued: int
    running: int
    oldest_queued_s: float  # age of the oldest job still waiting; 0 when none
    stuck: int  # running jobs whose worker stopped renewing its lease


class JobsProbe(Protocol):
    async def stats(self) -> QueueStats: ...

    async def reclaim_stuck(self, limit: int) -> int:
        """Hand up to `limit` stuck jobs back to the queue (idempotent); how many were."""
        ...


class JobsCheck:
    name = "jobs"

    def __init__(self, probe: JobsProbe | None, settings: Settings) -> None:
        self.probe = probe
        self.warn = settings.heartbeat_queue_lag_warn_s
        self.crit = settings.heartbeat_queue_lag_crit_s

    async def run(self) -> list[CheckResult]:
        if self.probe is None:
            return [CheckResult(self.name, "skipped", "no job queue configured")]
        st = await self.probe.stats()
        lag_state = by_threshold(st.oldest_queued_s, self.warn, self.crit)
        data = {"queued": st.queued, "running": st.running, "oldest_queued_s": st.oldest_queued_s}
        return [
            CheckResult(
                "queue_lag",
                lag_state,
                f"{st.queued} queued (oldest {st.oldest_queued_s:.0f} s), {st.running} running",
                data=data,
            ),
            CheckResult(
                "stuck_jobs",
                worst(["warning" if st.stuck else "ok"]),
                f"{st.stuck} stuck" if st.stuck else "none",
                data={"stuck": st.stuck},
            ),
        ]
