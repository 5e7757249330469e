"""What every node needs: the hub, the router and classifier, the QA checker, and small helpers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from langgraph.config import get_stream_writer

from nexus.config.catalogue import Catalogue, PipelineSettings
from nexus.pipeline.calls import CallResult, Writer, call_model
from nexus.pipeline.ports import ClassifierLike, RouterLike
from nexus.pipeline.qa import QAChecker
from nexus.pipeline.state import RunState
from nexus.providers.hub import ModelHub


@dataclass(slots=True)
class Deps:
    hub: ModelHub
    # A callable so a router rebuilt on catalogue reload is picked up by the next run.
    router_ref: Callable[[], RouterLike]
    classifier: ClassifierLike | None
    qa: QAChecker

    @property
    def router(self) -> RouterLike:
        return self.router_ref()

    @property
    def catalogue(self) -> Catalogue:
        return self.hub.catalogue

    @property
    def settings(self) -> PipelineSettings:
        return self.hub.catalogue.pipeline

    def best_available(self) -> str:
        """The model a degraded run answers with: the strongest role that is available."""
        cat = self.catalogue
        for role in ("escalation", "judge", "default", "aggregator"):
            mid = cat.role(role)
            if self.hub.is_available(mid):
                return mid
        available = [m for m in cat.ids if self.hub.is_available(m)]
        return available[0] if available else cat.role("default")

    async def call(
        self,
        state: RunState | dict[str, Any],
        model: str,
        messages: list[dict[str, Any]],
        *,
        role: str,
        stream: bool = False,
        params: dict[str, Any] | None = None,
    ) -> CallResult:
        run = {"run_id": str(state.get("run_id", "")), "tenant": str(state.get("tenant", ""))}
        return await call_model(
            self.hub,
            model,
            messages,
            role=role,
            run=run,
            params=params,
            writer=writer() if stream else None,
            source=role,
        )


def writer() -> Writer:
    return get_stream_writer()


def emit(type_: str, node: str, /, **data: Any) -> None:
    """Send one event out of the running node (live, through LangGraph's custom stream)."""
    get_stream_writer()({"type": type_, "node": node, "data": data})


Node = Callable[[RunState], Awaitable[dict[str, Any]]]


def guarded(name: str) -> Callable[[Node], Node]:
    """A failing node marks the run failed instead of raising; the graph then degrades gracefully.

    Never wrap a node that calls interrupt(): its exception must reach LangGraph.
    """

    def wrap(fn: Node) -> Node:
        @functools.wraps(fn)
        async def run(state: RunState) -> dict[str, Any]:
            try:
                return await fn(state)
            except Exception as exc:  # any failure (provider down, timeout, parse error) degrades
                return {"failed": {"node": name, "error": f"{type(exc).__name__}: {exc}"[:500]}}

        return run

    return wrap
