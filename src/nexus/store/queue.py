"""The accounting queue: request-path writes (work orders, model calls, events, audit) leave the hot path.

A single writer task batches what is queued and commits it within `linger_s` (well under the one-second
flush bound), so a killed process loses at most the last second. A full queue makes `put` wait
(back-pressure); `offer` refuses and counts instead of dropping silently. `close()` drains everything.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nexus.store.models import AuditEntry, Base, ChatSession, ModelCall, RunEvent, WorkOrder, utcnow
from nexus.store.scope import DEFAULT_TENANT

log = logging.getLogger("nexus.store.accounting")

_WORK_ORDER_FIELDS = frozenset(c.key for c in WorkOrder.__table__.columns)
MAX_BATCH = 500
FINAL_STATUSES = frozenset({"done", "failed", "cancelled", "interrupted"})


class QueueClosed(RuntimeError):
    """The queue was closed; nothing more is accepted."""


@dataclass(slots=True)
class _Insert:
    model: type[Base]
    values: dict[str, Any]


@dataclass(slots=True)
class _Upsert:
    """Update a work order; insert it when the "started" row never made it (same final state either way)."""

    id: str
    values: dict[str, Any]


@dataclass(slots=True)
class _Stop:
    pass


_Op = _Insert | _Upsert


@dataclass(slots=True)
class QueueStats:
    written: int = 0
    failed: int = 0
    rejected: int = 0
    deferred: int = 0
    batches: int = 0
    last_batch: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _ts(value: float | datetime | None) -> datetime:
    if value is None:
        return utcnow()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, UTC)


def _payload(data: Any) -> dict[str, Any]:
    """An event's payload as JSON values (a pydantic payload model, or a plain mapping)."""
    dump = getattr(data, "model_dump", None)
    if dump is not None:
        return dict(dump(mode="json"))
    return dict(data or {})


def _audit_op(
    action: str, tenant_id: str, actor: str, target: str, status: str, details: dict[str, Any] | None
) -> _Insert:
    return _Insert(
        AuditEntry,
        {
            "tenant_id": tenant_id,
            "actor": actor,
            "action": action,
            "target": target,
            "status": status,
            "details": details or {},
            "ts": utcnow(),
        },
    )


def _work_order_values(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - _WORK_ORDER_FIELDS
    if unknown:
        raise TypeError(f"unknown work order fields: {sorted(unknown)}")
    return fields


class AccountingQueue:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        maxsize: int = 10_000,
        flush_s: float = 1.0,
        linger_s: float = 0.05,
    ) -> None:
        self._sessions = sessions
        self._q: asyncio.Queue[_Op | _Stop] = asyncio.Queue(maxsize=maxsize)
        self._linger = min(linger_s, flush_s)
        self._deferred: set[asyncio.Task[None]] = set()
        self._enqueued = 0
        self._done = 0
        self._progress = asyncio.Condition()
        self._closed = False
        self.stats = QueueStats()
        self._writer = asyncio.create_task(self._run(), name="nexus-accounting-writer")

    # ---- depth and flow control -------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Items waiting to be written (the Prometheus gauge)."""
        return self._q.qsize() + len(self._deferred)

    @property
    def maxsize(self) -> int:
        return self._q.maxsize

    async def put(self, op: _Op) -> None:
        """Queue a write; waits while the queue is full (back-pressure)."""
        if self._closed:
            raise QueueClosed("accounting queue is closed")
        await self._q.put(op)
        self._enqueued += 1

    def offer(self, op: _Op) -> bool:
        """Queue without waiting; False (and counted in stats.rejected) when full or closed."""
        if self._closed:
            self.stats.rejected += 1
            return False
        try:
            self._q.put_nowait(op)
        except asyncio.QueueFull:
            self.stats.rejected += 1
            return False
        self._enqueued += 1
        return True

    def put_soon(self, op: _Op) -> None:
        """For synchronous callers (metering listeners): queue now, or wait for room in a task."""
        if self.offer(op):
            return
        self.stats.rejected -= 1  # not refused: it waits in a task that close() drains
        self.stats.deferred += 1
        task = asyncio.get_running_loop().create_task(self.put(op))
        self._deferred.add(task)
        task.add_done_callback(self._deferred.discard)

    async def flush(self) -> None:
        """Wait until everything queued before this call is committed (or failed and logged)."""
        target = self._enqueued + len(self._deferred)
        if self._deferred:
            await asyncio.gather(*list(self._deferred), return_exceptions=True)
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target or self._writer.done())

    async def close(self) -> None:
        """Drain and stop; nothing queued before this call is lost."""
        if self._closed:
            return
        if self._deferred:
            await asyncio.gather(*list(self._deferred), return_exceptions=True)
        self._closed = True
        await self._q.put(_Stop())
        await self._writer

    # ---- lifecycle API used by the gateway and pipeline ---------------------------------------------

    async def work_order_started(
        self,
        *,
        id: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
        status: str = "running",
        **fields: Any,
    ) -> str:
        """Record a new work order (flushed within linger_s, so it survives a kill -9); returns its id."""
        now = utcnow()
        values = _work_order_values(
            {**fields, "id": id or uuid.uuid4().hex, "tenant_id": tenant_id, "status": status}
        )
        values.setdefault("created_at", now)
        values.setdefault("updated_at", now)
        await self.put(_Insert(WorkOrder, values))
        return str(values["id"])

    async def work_order_updated(self, id: str, *, tenant_id: str = DEFAULT_TENANT, **fields: Any) -> None:
        """Change fields of a running work order (status "paused", the routed model, …)."""
        values = _work_order_values({**fields, "tenant_id": tenant_id, "updated_at": utcnow()})
        await self.put(_Upsert(id, values))

    async def work_order_finished(
        self,
        id: str,
        *,
        tenant_id: str = DEFAULT_TENANT,
        status: str = "done",
        error: str | None = None,
        **fields: Any,
    ) -> None:
        """Final state: status done|failed, tokens_in/out, cost_usd, latency_ms, owner_model, …"""
        now = utcnow()
        values = _work_order_values(
            {
                **fields,
                "tenant_id": tenant_id,
                "status": status,
                "error": error,
                "updated_at": now,
                "finished_at": now,
            }
        )
        await self.put(_Upsert(id, values))

    def work_order_soon(self, id: str, *, tenant_id: str = DEFAULT_TENANT, **fields: Any) -> None:
        """work_order_updated() for synchronous callers (event sinks); order is kept."""
        values = _work_order_values({**fields, "tenant_id": tenant_id, "updated_at": utcnow()})
        if values.get("status") in FINAL_STATUSES:
            values.setdefault("finished_at", values["updated_at"])
        self.put_soon(_Upsert(id, values))

    def session_created(self, id: str, *, tenant_id: str) -> None:
        """A session id the service just made for a tenant (its owner), written off the request path."""
        now = utcnow()
        self.put_soon(
            _Insert(
                ChatSession,
                {
                    "id": id,
                    "tenant_id": tenant_id,
                    "title": "",
                    "meta": {},
                    "created_at": now,
                    "updated_at": now,
                },
            )
        )

    async def call_recorded(self, record: Any, *, work_order_id: str | None = None) -> None:
        await self.put(self._call_op(record, work_order_id))

    def on_call(self, record: Any) -> None:
        """A Meter listener (synchronous): `meter.subscribe(queue.on_call)`."""
        self.put_soon(self._call_op(record, None))

    async def event(self, ev: Any, *, tenant_id: str = DEFAULT_TENANT) -> None:
        """A pipeline event: any object with type, run_id, session_id, node, seq, ts, data."""
        await self.put(
            _Insert(
                RunEvent,
                {
                    "tenant_id": tenant_id,
                    "run_id": ev.run_id,
                    "session_id": getattr(ev, "session_id", None),
                    "seq": getattr(ev, "seq", 0),
                    "type": ev.type,
                    "node": getattr(ev, "node", ""),
                    "payload": _payload(getattr(ev, "data", None)),
                    "ts": _ts(getattr(ev, "ts", None)),
                },
            )
        )

    async def audit(
        self,
        *,
        action: str,
        tenant_id: str = DEFAULT_TENANT,
        actor: str = "",
        target: str = "",
        status: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.put(_audit_op(action, tenant_id, actor, target, status, details))

    def audit_soon(
        self,
        *,
        action: str,
        tenant_id: str = DEFAULT_TENANT,
        actor: str = "",
        target: str = "",
        status: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> None:
        """audit() for synchronous callers (queued now, or waiting for room in a task)."""
        self.put_soon(_audit_op(action, tenant_id, actor, target, status, details))

    @staticmethod
    def _call_op(r: Any, work_order_id: str | None) -> _Insert:
        return _Insert(
            ModelCall,
            {
                "tenant_id": getattr(r, "tenant", "") or DEFAULT_TENANT,
                "work_order_id": work_order_id or getattr(r, "work_order_id", None) or None,
                "request_id": getattr(r, "request_id", "") or "",
                "run_id": getattr(r, "run_id", "") or None,
                "model": r.model,
                "provider": getattr(r, "provider", ""),
                "upstream_model": getattr(r, "upstream_model", ""),
                "role": getattr(r, "role", "worker"),
                "tokens_in": r.prompt_tokens,
                "tokens_out": r.completion_tokens,
                "cost_usd": r.cost_usd,
                "latency_ms": r.latency_ms,
                "success": r.success,
                "error": getattr(r, "error", None),
                "stream": getattr(r, "stream", False),
                "simulated": getattr(r, "simulated", False),
                "attempt": getattr(r, "attempt", 1),
                "ts": _ts(getattr(r, "ts", None)),
            },
        )

    # ---- the writer ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._q.get()
            if isinstance(first, _Stop):
                break
            batch: list[_Op] = [first]
            if self._linger > 0 and self._q.qsize() < MAX_BATCH:
                await asyncio.sleep(self._linger)  # let a burst gather into one transaction
            while len(batch) < MAX_BATCH and not self._q.empty():
                item = self._q.get_nowait()
                if isinstance(item, _Stop):
                    stopping = True
                    break
                batch.append(item)
            await self._write(batch)
            async with self._progress:
                self._done += len(batch)
                self._progress.notify_all()
        async with self._progress:
            self._progress.notify_all()

    async def _write(self, batch: list[_Op]) -> None:
        try:
            await self._apply(batch)
            self.stats.written += len(batch)
        except Exception:
            # One bad row must not sink its neighbours: retry one by one, log and count the failures.
            log.exception("accounting batch of %d failed; retrying row by row", len(batch))
            for op in batch:
                try:
                    await self._apply([op])
                    self.stats.written += 1
                except Exception:
                    self.stats.failed += 1
                    log.exception("accounting write dropped after retry: %s", type(op).__name__)
        self.stats.batches += 1
        self.stats.last_batch = len(batch)

    async def _apply(self, batch: list[_Op]) -> None:
        # A statement per row costs a thread hop and a turn of a busy event loop each (about 170 per
        # batch under load, far slower than requests arrive), so the batch becomes a few executemany
        # statements: a work order created in this batch takes its later changes before it is inserted,
        # and changes to older rows are merged per id (SET assignments: the last value wins either way).
        created: dict[str, dict[str, Any]] = {}
        others: list[_Insert] = []
        changes: dict[str, dict[str, Any]] = {}
        for op in batch:
            if isinstance(op, _Upsert):
                target = created.get(op.id)
                (target if target is not None else changes.setdefault(op.id, {})).update(op.values)
            elif op.model is WorkOrder:
                created[op.values["id"]] = dict(op.values)
            else:
                others.append(op)
        inserts: dict[tuple[type[Base], tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
        for values in created.values():
            inserts[(WorkOrder, tuple(sorted(values)))].append(values)
        for op in others:
            inserts[(op.model, tuple(sorted(op.values)))].append(op.values)
        async with self._sessions() as s, s.begin():
            # executemany needs one key set per statement; work orders first, as before.
            for model, keys in inserts:
                await s.execute(insert(model), inserts[(model, keys)])
            if changes:
                await self._apply_changes(s, changes)

    @staticmethod
    async def _apply_changes(s: AsyncSession, changes: dict[str, dict[str, Any]]) -> None:
        """Update work orders written by earlier batches; insert those whose "started" row never made it."""
        found = await s.execute(select(WorkOrder.id).where(WorkOrder.id.in_(list(changes))))
        existing = set(found.scalars())
        table = cast(Table, WorkOrder.__table__)
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        missing: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for wo_id, values in changes.items():
            if wo_id in existing:
                updates[tuple(sorted(values))].append({"_wo_id": wo_id, **values})
            else:
                missing[tuple(sorted(values))].append({"id": wo_id, **values})
        for rows in updates.values():
            await s.execute(update(table).where(table.c.id == bindparam("_wo_id")), rows)
        for rows in missing.values():
            await s.execute(insert(WorkOrder), rows)
