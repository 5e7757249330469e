"""The semantic cache of routed answers, opt-in per tenant, never crossing tenants.

A lookup is keyed by
  - the tenant (every query is scoped to it: one tenant's answer can never reach another),
  - `key`: a hash of the model asked for, the system prompt, the conversation before the user's last turn
    and the answering parameters (a changed system prompt or history misses),
  - the user's last turn: the identical text (an indexed hash, any age, no embedding), else embedding
  similarity ≥ the tenant's threshold against the key's SCAN freshest entries.
Bypassed (never read, never written): requests with tools or tool messages (their answers act on the
world), critical (guard-flagged) requests, `temperature > 0`, several choices, and turns that are not a
fresh question (a resumed run, a session whose history the server keeps, a queued work order).
Entries live for a TTL; each tenant keeps at most `max_entries` (memory and disk bounded).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np

from nexus.embeddings.base import Embedder
from nexus.pipeline.events import ClassifiedData, Event, FinalData
from nexus.providers.types import ChatRequest
from nexus.service.feedback import RouterTuning, check_tenant
from nexus.store import Store, TenantScope
from nexus.store.models import utcnow
from nexus.store.models_router import CacheEntry
from nexus.store.repos.router import CacheEntries

THRESHOLD = 0.95
TTL_S = 24 * 3600
MAX_ENTRIES = 5000  # per tenant
SCAN = 256  # freshest entries of a key compared by similarity (exact matches are found at any age)
# Parameters that change the answer: part of the key.
KEYED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "response_format",
    "seed",
    "stop",
)

Status = Literal["hit", "miss", "bypass"]


@dataclass(slots=True)
class Lookup:
    status: Status
    reason: str = ""
    key: str = ""
    text: str = ""
    vector: np.ndarray | None = None
    entry: CacheEntry | None = None
    similarity: float = 0.0


def bypass_reason(body: ChatRequest, *, critical: bool) -> str | None:
    """Why this request must not touch the cache (None: it may)."""
    if body.tools or any(m.role == "tool" or m.tool_calls for m in body.messages):
        return "tools"
    if critical:
        return "critical"
    if body.temperature is not None and body.temperature > 0:
        return "temperature"
    if not body.last_user_text():
        return "no_user_turn"
    return None


def cache_key(body: ChatRequest) -> str:
    """Everything but the user's last turn that the answer depends on."""
    msgs = [m.model_dump(exclude_none=True) for m in body.messages]
    last_user = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=len(msgs))
    system = [m.get("content") for m in msgs if m.get("role") in ("system", "developer")]
    before = [m for m in msgs[:last_user] if m.get("role") not in ("system", "developer")]
    params = body.model_dump(include=set(KEYED_PARAMS), exclude_none=True)
    material = json.dumps(
        {"model": body.model, "system": system, "history": before, "params": params},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SemanticCache:
    def __init__(
        self,
        store: Store,
        tuning: RouterTuning,
        embedder: Callable[[], Embedder | None],
        *,
        threshold: float = THRESHOLD,
        ttl_s: int = TTL_S,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.store = store
        self.tuning = tuning
        self.embedder = embedder
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.counts: dict[str, int] = {"hit": 0, "miss": 0, "bypass": 0}
        self._tasks: set[asyncio.Task[None]] = set()

    def _repo(self, tenant: str) -> CacheEntries:
        return CacheEntries(self.store.sessions, TenantScope(tenant, False))

    async def lookup(self, tenant: str, body: ChatRequest, *, critical: bool = False) -> Lookup | None:
        """None when the tenant has not opted in; else hit (with the entry), miss or bypass."""
        own = await self.tuning.settings(tenant)
        if not own.cache_enabled:
            return None
        reason = bypass_reason(body, critical=critical)
        embedder = self.embedder()
        if reason is None and embedder is None:
            reason = "no_embedder"
        if reason is not None:
            self.counts["bypass"] += 1
            return Lookup("bypass", reason)
        assert embedder is not None
        key, text = cache_key(body), body.last_user_text()
        repo, now = self._repo(tenant), utcnow()
        exact = await repo.exact(key, _digest(text), now)  # any age, through an index
        if exact is not None:
            self.counts["hit"] += 1
            self._count_hit(repo, exact.id)
            return Lookup("hit", key=key, text=text, entry=exact, similarity=1.0)
        vec = (await asyncio.to_thread(embedder.embed, [text]))[0].astype(np.float32)
        threshold = own.cache_threshold or self.threshold
        best: tuple[float, CacheEntry] | None = None
        for entry in await repo.candidates(key, now, SCAN):
            sim = float(np.frombuffer(entry.vector, np.float32) @ vec)
            if sim >= threshold and (best is None or sim > best[0]):
                best = (sim, entry)
        if best is None:
            self.counts["miss"] += 1
            return Lookup("miss", key=key, text=text, vector=vec)
        self.counts["hit"] += 1
        self._count_hit(repo, best[1].id)
        return Lookup("hit", key=key, text=text, vector=vec, entry=best[1], similarity=best[0])

    def _count_hit(self, repo: CacheEntries, entry_id: int) -> None:
        """The entry's hit counter, written in the background: a hit never waits for a write."""

        async def write() -> None:
            try:
                await repo.hit(entry_id)
            except Exception:  # a statistic: losing one never matters
                pass

        task = asyncio.get_running_loop().create_task(write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def put(self, tenant: str, lookup: Lookup, answer: str, model: str) -> None:
        if lookup.status != "miss" or lookup.vector is None or not answer:
            return
        own = await self.tuning.settings(tenant)
        now = utcnow()
        repo = self._repo(tenant)
        await repo.add(
            key=lookup.key,
            prompt=lookup.text,
            prompt_hash=_digest(lookup.text),
            vector=lookup.vector.astype(np.float32).tobytes(),
            answer=answer,
            model=model,
            expires_at=now + timedelta(seconds=own.cache_ttl_s or self.ttl_s),
        )
        await repo.trim(now, self.max_entries)

    async def filling(
        self, tenant: str, lookup: Lookup, events: AsyncIterator[Event]
    ) -> AsyncIterator[Event]:
        """Pass a run's events through; its final answer (as the client got it) is cached when it is a
        plain answer (no tool calls, finished normally) to a request the classifier did not mark critical."""
        critical = False
        async for event in events:
            d = event.data
            if isinstance(d, ClassifiedData):
                critical = critical or d.critical  # the classifier's own flag: never cached either
            elif (
                isinstance(d, FinalData)
                and d.answer
                and not critical
                and not d.tool_calls
                and d.finish_reason == "stop"
            ):
                try:
                    await self.put(tenant, lookup, d.answer, d.model or "")
                except Exception:  # the cache is an optimisation: a failed write never fails the turn
                    pass
            yield event

    async def invalidate(self, scope: TenantScope, tenant: str) -> int:
        check_tenant(scope, tenant)
        return await self._repo(tenant).clear()
