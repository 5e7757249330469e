"""Check history in the store (`health_checks`), for GET /api/health/history and the admin console.

When the database itself is what failed, results wait in a bounded buffer and are written with the
next results that get through: the history shows the outage, not a gap.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from nexus.ops.types import CheckResult
from nexus.store import Store, TenantScope
from nexus.store.models import utcnow
from nexus.store.models_ops import SYSTEM_ROWS
from nexus.store.repos.ops import HealthChecks

log = logging.getLogger("nexus.ops.history")
BUFFER_MAX = 10_000
PRUNE_EVERY_S = 3600.0


def row_of(r: CheckResult, ts: datetime) -> dict[str, Any]:
    return {
        "tenant_id": r.tenant or SYSTEM_ROWS,
        "name": r.name,
        "state": r.state,
        "detail": r.detail[:2000],
        "latency_ms": r.latency_ms,
        "data": r.data,
        "ts": ts,
    }


class History:
    def __init__(self, store: Store, keep_days: int) -> None:
        self.repo = HealthChecks(store.sessions, TenantScope.system())
        self.keep_days = keep_days
        self._pending: deque[dict[str, Any]] = deque(maxlen=BUFFER_MAX)
        self._pruned_at = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def record(self, results: Sequence[CheckResult], ts: datetime | None = None) -> bool:
        """Store these results (and any held back); False when the database refused them for now."""
        when = ts or utcnow()
        self._pending.extend(row_of(r, when) for r in results)
        rows = list(self._pending)
        try:
            await self.repo.record(rows)
        except Exception as exc:
            log.warning(
                "check history not written; kept for the next run",
                extra={"pending": len(rows), "error": type(exc).__name__},
            )
            return False
        self._pending.clear()
        await self._prune()
        return True

    async def _prune(self) -> None:
        if self.keep_days <= 0 or time.monotonic() - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = time.monotonic()
        n = await self.repo.prune(utcnow() - timedelta(days=self.keep_days))
        if n:
            log.info("pruned old check history", extra={"rows": n})
