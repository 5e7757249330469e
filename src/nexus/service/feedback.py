"""The router learning from its traffic: feedback on answers, per-tenant retrain into a candidate, explicit
promotion, and the per-tenant routing settings (A/B arms, semantic cache opt-in).

    rate an answer   POST /api/feedback {work_order_id | request_id, rating up|down | score 0..1, …}
    retrain          `nexus router retrain --tenant T` / POST /admin/router/{tenant}/retrain
                     → a candidate FeedbackModel, stored; it serves nothing yet
    promote          `nexus router promote --tenant T` / POST /admin/router/{tenant}/promote
                     → the candidate serves that tenant's decisions (and only that tenant's)

A rating is kept with what it rates: the routed prompt (recorded when the turn started, `router_turns`)
and the model that answered (the work order's owner model). Feedback is rate-limited per key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexus.jsontypes import JsonBool, JsonFloat, JsonIntOrNone
from nexus.routing.ab import AbPolicy, Arm, RouteOverrides
from nexus.routing.base import RouteContext
from nexus.routing.feedback import FeedbackModel, Rating
from nexus.routing.router import Router
from nexus.service.errors import ServiceError, invalid, not_found
from nexus.service.identity import Caller
from nexus.service.ratelimit import RateLimiter, RateLimitExceeded, enforce_limits
from nexus.store import AccountingQueue, Store, TenantScope
from nexus.store.models import WorkOrder
from nexus.store.models_router import RoutedTurn, RouterVersion
from nexus.store.repos.router import Feedback, RoutedTurns, RouterSettingsRepo, RouterVersions

log = logging.getLogger("nexus.service.feedback")

FEEDBACK_RPM = 60  # ratings per minute per key
SETTINGS_TTL_S = 30.0
PROMPT_CHARS = 8000  # what a routed turn keeps of its prompt
REPORT_PROMPTS = 50  # decisions compared (served vs candidate) in a retrain's report


def _given(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


class FeedbackIn(BaseModel):
    # What the validator below checks, said in the schema: one id and one rating, not null.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "anyOf": [
                        _given("work_order_id", {"type": "string", "minLength": 1}),
                        _given("request_id", {"type": "string", "minLength": 1}),
                    ]
                },
                {"anyOf": [_given("rating", {"enum": ["up", "down"]}), _given("score", {"type": "number"})]},
            ]
        }
    )
    work_order_id: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    rating: Literal["up", "down"] | None = None
    score: JsonFloat | None = Field(default=None, ge=0.0, le=1.0)
    label: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _one_of_each(self) -> FeedbackIn:
        if not (self.work_order_id or self.request_id):
            raise ValueError("give work_order_id or request_id")
        if self.rating is None and self.score is None:
            raise ValueError("give rating (up|down) or score (0..1)")
        return self

    @property
    def value(self) -> float:
        if self.score is not None:
            return float(self.score)
        return 1.0 if self.rating == "up" else 0.0


class RouterSettingsIn(BaseModel):
    arms: list[Arm] | None = None
    cache_enabled: JsonBool | None = None
    cache_threshold: JsonFloat | None = Field(default=None, gt=0.0, le=1.0)
    cache_ttl_s: JsonIntOrNone = Field(default=None, gt=0)


@dataclass(frozen=True, slots=True)
class TenantRouting:
    """A tenant's routing settings as each turn reads them."""

    policy: AbPolicy = field(default_factory=AbPolicy)
    cache_enabled: bool = False
    cache_threshold: float | None = None
    cache_ttl_s: int | None = None

    def public(self) -> dict[str, Any]:
        return {
            "arms": [a.model_dump() for a in self.policy.arms],
            "cache_enabled": self.cache_enabled,
            "cache_threshold": self.cache_threshold,
            "cache_ttl_s": self.cache_ttl_s,
        }


def check_tenant(scope: TenantScope, tenant: str) -> None:
    """A tenant admin acts on its own tenant only; another tenant is not found (its existence hidden)."""
    if not scope.is_global_admin and tenant != scope.tenant_id:
        raise not_found(f"Unknown tenant {tenant!r}.", code="tenant_not_found")


class RouterTuning:
    def __init__(
        self,
        store: Store,
        routers: Callable[[], Router],
        limiter: RateLimiter | None = None,
        *,
        queue: AccountingQueue | None = None,
        ttl_s: float = SETTINGS_TTL_S,
    ) -> None:
        self.store = store
        self.queue = queue  # the accounting writer: a just-finished work order may still be in it
        self.routers = routers
        self.limiter = limiter
        self.ttl_s = ttl_s
        self._settings: dict[str, tuple[float, TenantRouting]] = {}
        self._serving: dict[str, int] = {}  # tenant → the promoted version serving in this process
        self._tasks: set[asyncio.Task[None]] = set()

    # -- per-tenant settings -------------------------------------------------------------------------
    async def settings(self, tenant: str) -> TenantRouting:
        now = time.monotonic()
        hit = self._settings.get(tenant)
        if hit is not None and hit[0] > now:
            return hit[1]
        repo = RouterSettingsRepo(self.store.sessions, TenantScope(tenant, False))
        row = await repo.find(tenant)
        found = (
            TenantRouting(
                AbPolicy(arms=[Arm.model_validate(a) for a in row.arms or []]),
                bool(row.cache_enabled),
                row.cache_threshold,
                row.cache_ttl_s,
            )
            if row is not None
            else TenantRouting()
        )
        self._settings[tenant] = (now + self.ttl_s, found)
        await self._follow_promotion(tenant)
        return found

    async def _follow_promotion(self, tenant: str) -> None:
        """A promotion made by another process (the CLI, another gateway) serves here within the TTL."""
        row = await RouterVersions(self.store.sessions, TenantScope(tenant, False)).latest(tenant, "promoted")
        if row is not None and self._serving.get(tenant) != row.id:
            self._serve(tenant, row)

    def _serve(self, tenant: str, row: RouterVersion) -> bool:
        router = self.routers()
        model = FeedbackModel.from_json(row.artefact)
        if router.embedder is not None and model.embedder_name not in ("", router.embedder.name):
            log.warning("feedback model of %s skipped: fitted with another embedder", tenant)
            return False
        router.tenant_models.serve(tenant, model)
        self._serving[tenant] = row.id
        return True

    async def save_settings(self, scope: TenantScope, tenant: str, body: RouterSettingsIn) -> TenantRouting:
        check_tenant(scope, tenant)
        values = body.model_dump(exclude_none=True)
        if "arms" in values:
            values["arms"] = [a.model_dump() for a in AbPolicy(arms=body.arms or []).arms]
        if values:
            await RouterSettingsRepo(self.store.sessions, TenantScope(tenant, False)).save(tenant, **values)
        self._settings.pop(tenant, None)
        return await self.settings(tenant)

    # -- a routed turn -------------------------------------------------------------------------------
    async def begin(
        self, caller: Caller, work_order_id: str, session_id: str, prompt: str, cache: str | None = None
    ) -> RouteOverrides | None:
        """The turn's A/B arm (None when the tenant runs no test), and its routing record, written in the
        background (feedback on the work order reads the prompt and arm from it)."""
        own = await self.settings(caller.tenant)
        overrides = RouteOverrides.of(own.policy.assign(caller.tenant, session_id))
        repo = RoutedTurns(self.store.sessions, TenantScope(caller.tenant, False))
        self._spawn(
            repo.record(
                work_order_id,
                session_id=session_id,
                prompt=prompt[:PROMPT_CHARS],
                arm=overrides.arm if overrides else None,
                propensity=overrides.propensity if overrides else None,
                cache=cache,
            )
        )
        return overrides

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("writing a routed turn's record failed")

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- feedback ------------------------------------------------------------------------------------
    async def submit(self, caller: Caller, body: FeedbackIn) -> dict[str, Any]:
        await self._limit(caller)
        scope = TenantScope(caller.tenant, False)
        orders = self.store.work_orders(scope)

        async def find() -> WorkOrder | None:
            if body.work_order_id:
                return await orders.find(body.work_order_id)
            return await orders.by_request_id(str(body.request_id))

        order = await find()
        if order is None and self.queue is not None:
            await self.queue.flush()
            order = await find()
        if order is None:  # another tenant's work order is not found either
            raise not_found("Unknown work order.", code="work_order_not_found")
        await self.drain()
        turn = await RoutedTurns(self.store.sessions, scope).find(order.id)
        row = await Feedback(self.store.sessions, scope).add(
            work_order_id=order.id,
            request_id=order.request_id,
            score=body.value,
            label=body.label,
            comment=body.comment,
            prompt=turn.prompt if turn is not None else None,
            model=order.owner_model,
            arm=turn.arm if turn is not None else None,
            actor=caller.principal.subject,
        )
        return {
            "id": row.id,
            "work_order_id": order.id,
            "score": row.score,
            "model": row.model,
            "arm": row.arm,
            "learnable": bool(row.prompt and row.model),
        }

    async def _limit(self, caller: Caller) -> None:
        if self.limiter is None:
            return
        subject = f"feedback:{caller.principal.key_id or caller.principal.subject}:{caller.tenant}"
        try:
            await enforce_limits(self.limiter, subject, rpm=FEEDBACK_RPM)
        except RateLimitExceeded as exc:
            raise ServiceError(
                429, "Too many ratings: slow down.", code="rate_limited", headers=exc.headers
            ) from None

    # -- retrain and promote -------------------------------------------------------------------------
    async def retrain(self, scope: TenantScope, tenant: str) -> dict[str, Any]:
        """Fit a candidate from the tenant's ratings; it serves nothing until promoted."""
        check_tenant(scope, tenant)
        own = TenantScope(tenant, False)
        rows = await Feedback(self.store.sessions, own).recent()
        ratings = [Rating(r.prompt or "", r.model or "", r.score) for r in rows if r.prompt and r.model]
        if not ratings:
            raise invalid(f"Tenant {tenant!r} has no ratings to learn from yet.", code="no_feedback")
        router = self.routers()
        if router.embedder is None:
            raise ServiceError(503, "No embedder: the router cannot learn from feedback.", code="no_embedder")
        vectors = await asyncio.to_thread(router.embedder.embed, [r.prompt for r in ratings])
        model = FeedbackModel.fit(
            ratings, vectors, set(router.catalogue.ids), embedder_name=router.embedder.name
        )
        report = await asyncio.to_thread(self._compare, router, tenant, model, ratings)
        version = await RouterVersions(self.store.sessions, own).add(
            status="candidate", feedback_count=len(ratings), artefact=model.to_json(), report=report
        )
        router.tenant_models.set_candidate(tenant, model)
        return {"tenant": tenant, "version": version.id, "status": "candidate", **report}

    @staticmethod
    def _compare(router: Router, tenant: str, model: FeedbackModel, ratings: list[Rating]) -> dict[str, Any]:
        """Served vs candidate decisions on the rated prompts: what promoting would change."""
        router.tenant_models.set_candidate(tenant, model)
        prompts = list(dict.fromkeys(r.prompt for r in ratings))[:REPORT_PROMPTS]
        changed = []
        for p in prompts:
            served = router.decide(p, RouteContext(tenant=tenant)).model
            candidate = router.decide(p, RouteContext(tenant=tenant, candidate=True)).model
            if served != candidate:
                changed.append({"prompt": p[:200], "served": served, "candidate": candidate})
        return {"ratings": len(ratings), "compared": len(prompts), "changed": changed}

    async def promote(self, scope: TenantScope, tenant: str, version: int | None = None) -> dict[str, Any]:
        """An explicit admin action: the tenant's latest candidate (or `version`) serves from now on."""
        check_tenant(scope, tenant)
        repo = RouterVersions(self.store.sessions, TenantScope(tenant, False))
        row: RouterVersion | None
        if version is None:
            row = await repo.latest(tenant, "candidate")
        else:
            row = await repo.find(version)
            row = row if row is not None and row.status in ("candidate", "retired") else None
        if row is None:
            raise not_found(f"No candidate router to promote for {tenant!r}.", code="no_candidate")
        await repo.promote(tenant, row.id)
        self._serve(tenant, row)
        return {"tenant": tenant, "version": row.id, "status": "promoted"}

    async def versions(self, scope: TenantScope, tenant: str) -> list[dict[str, Any]]:
        check_tenant(scope, tenant)
        rows = await RouterVersions(self.store.sessions, TenantScope(tenant, False)).list(tenant)
        return [
            {
                "version": r.id,
                "status": r.status,
                "ratings": r.feedback_count,
                "created_at": r.created_at.isoformat(),
                "promoted_at": r.promoted_at.isoformat() if r.promoted_at else None,
                "changed": len((r.report or {}).get("changed") or []),
            }
            for r in rows
        ]

    async def ab_report(self, scope: TenantScope, tenant: str) -> list[dict[str, Any]]:
        """Per arm: routed turns, ratings and their mean with a 95 % confidence interval (normal
        approximation), mean cost and latency of its work orders."""
        check_tenant(scope, tenant)
        own = TenantScope(tenant, False)
        turns = RoutedTurns(self.store.sessions, own)
        rows = await turns.rows(
            turns.select(RoutedTurn.arm, WorkOrder.cost_usd, WorkOrder.latency_ms).join(
                WorkOrder, (WorkOrder.id == RoutedTurn.work_order_id) & (WorkOrder.tenant_id == tenant)
            )
        )
        ratings = await Feedback(self.store.sessions, own).recent()
        out: dict[str, dict[str, Any]] = {}
        for arm, cost, latency in rows:
            a = out.setdefault(
                str(arm), {"arm": str(arm), "turns": 0, "cost": [], "latency": [], "scores": []}
            )
            a["turns"] += 1
            a["cost"].append(float(cost or 0.0))
            if latency is not None:
                a["latency"].append(float(latency))
        for r in ratings:
            if str(r.arm) in out:
                out[str(r.arm)]["scores"].append(float(r.score))
        return [_arm_summary(a) for a in sorted(out.values(), key=lambda a: a["arm"])]

    async def load_promoted(self) -> int:
        """At start-up: every tenant's promoted feedback model serves again."""
        rows = await RouterVersions(self.store.sessions, TenantScope.system()).promoted()
        return sum(self._serve(r.tenant_id, r) for r in rows)


def _arm_summary(a: dict[str, Any]) -> dict[str, Any]:
    scores = np.asarray(a["scores"], dtype=np.float64)
    n = len(scores)
    mean = float(scores.mean()) if n else None
    half = float(1.96 * scores.std(ddof=1) / np.sqrt(n)) if n > 1 else None
    return {
        "arm": a["arm"],
        "turns": a["turns"],
        "ratings": n,
        "score": None if mean is None else round(mean, 4),
        "score_ci95": None
        if half is None or mean is None
        else [round(mean - half, 4), round(mean + half, 4)],
        "mean_cost_usd": round(float(np.mean(a["cost"])), 8) if a["cost"] else 0.0,
        "mean_latency_ms": round(float(np.mean(a["latency"])), 2) if a["latency"] else None,
    }
