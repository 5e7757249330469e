"""What every node needs: the hub, the router and classifier, the QA checker, and small helpers
(emit a typed event, call a model, trace a node as an OpenTelemetry span)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from langgraph.config import get_stream_writer
from opentelemetry import trace

from nexus.config.catalogue import Catalogue, PipelineSettings
from nexus.pipeline.calls import CallResult, call_model
from nexus.pipeline.events import Payload, TokenData
from nexus.pipeline.ports import ClassifierLike, RouterLike
from nexus.pipeline.qa import QAChecker
from nexus.providers.hub import ModelHub


def _default_tracer() -> trace.Tracer:
    return trace.get_tracer("nexus.pipeline")


@dataclass(slots=True)
class Deps:
    hub: ModelHub
    # A callable so a router rebuilt on catalogue reload is picked up by the next run.
    router_ref: Callable[[], RouterLike]
    classifier: ClassifierLike | None
    qa: QAChecker
    # Masks secrets and PII in an answer QA flagged, so it is never delivered raw.
    mask: Callable[[str], str] | None = None
    # The OpenTelemetry tracer nodes open their spans with (the runtime passes the process's; the
    # pipeline never imports nexus.telemetry). Each node is a child span of the request's span.
    tracer: Callable[[], trace.Tracer] = _default_tracer

    @property
    def router(self) -> RouterLike:
        return self.router_ref()

    @property
    def catalogue(self) -> Catalogue:
        return self.hub.catalogue

    @property
    def settings(self) -> PipelineSettings:
        return self.hub.catalogue.pipeline

    def best_available(self, allowed: list[str] | None = None) -> str:
        """The model a degraded run answers with: the strongest role that is available (and allowed)."""
        cat = self.catalogue

        def ok(mid: str) -> bool:
            return self.hub.is_available(mid) and (allowed is None or mid in allowed)

        for role in ("escalation", "judge", "default", "aggregator"):
            mid = cat.role(role)
            if ok(mid):
                return mid
        usable = [m for m in cat.ids if ok(m)]
        return usable[0] if usable else cat.role("default")

    async def call(
        self,
        run_id: str,
        model: str,
        messages: list[Any],
        *,
        role: str,
        stream: bool = False,
        deliverable: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> CallResult:
        return await call_model(
            self.hub,
            model,
            [dict(m) for m in messages],
            role=role,
            run_id=run_id,
            params=dict(params) if params else None,
            tokens=_token_sink(role) if stream else None,
            deliverable=deliverable,
            source=role,
        )


def _token_sink(node: str) -> Callable[[TokenData], None]:
    writer = get_stream_writer()
    return lambda payload: writer((node, payload))


def emit(node: str, payload: Payload) -> None:
    """Send one typed event out of the running node (live, through LangGraph's custom stream)."""
    get_stream_writer()((node, payload))


S = TypeVar("S")
Node = Callable[[S], Awaitable[dict[str, Any]]]


def traced(name: str, tracer: Callable[[], trace.Tracer]) -> Callable[[Node[S]], Node[S]]:
    """Run the node inside a span `nexus.pipeline.<name>`; the node's update keys become attributes."""

    def wrap(fn: Node[S]) -> Node[S]:
        @functools.wraps(fn)
        async def run(state: S) -> dict[str, Any]:
            with tracer().start_as_current_span(f"nexus.pipeline.{name}") as span:
                span.set_attribute("nexus.node", name)
                update = await fn(state)
                for key, value in _span_attributes(update).items():
                    span.set_attribute(key, value)
                return update

        return run

    return wrap


def _span_attributes(update: Mapping[str, Any]) -> dict[str, Any]:
    """The decision-bearing parts of a node's state update, flattened to span attributes."""
    out: dict[str, Any] = {}
    c = update.get("classification")
    if isinstance(c, Mapping):
        out |= {"nexus.domain": str(c.get("domain")), "nexus.critical": bool(c.get("critical"))}
    tasks = update.get("tasks")
    if isinstance(tasks, list) and tasks:
        out["nexus.models"] = [str(t.get("model")) for t in tasks]
        out["nexus.fanout"] = len(tasks) > 1
    j = update.get("judge")
    if isinstance(j, Mapping):
        out |= {"nexus.judge.score": float(j.get("score") or 0), "nexus.judge.passed": bool(j.get("passed"))}
    qa = update.get("qa")
    if isinstance(qa, Mapping):
        out["nexus.qa.passed"] = bool(qa.get("passed"))
    if update.get("answer_model"):
        out["nexus.answer_model"] = str(update["answer_model"])
    failed = update.get("failed")
    if isinstance(failed, Mapping):
        out["nexus.failed"] = str(failed.get("error"))[:200]
    for r in update.get("results") or []:
        out[f"nexus.result.{r.get('index')}.ok"] = bool(r.get("ok"))
    return out


def guarded(name: str) -> Callable[[Node[S]], Node[S]]:
    """A failing node marks the run failed instead of raising; the graph then degrades gracefully.

    Never wrap a node that calls interrupt(): its exception must reach LangGraph.
    """

    def wrap(fn: Node[S]) -> Node[S]:
        @functools.wraps(fn)
        async def run(state: S) -> dict[str, Any]:
            try:
                return await fn(state)
            except Exception as exc:  # any failure (provider down, timeout, parse error) degrades
                return {"failed": {"node": name, "error": f"{type(exc).__name__}: {exc}"[:500]}}

        return run

    return wrap
