"""Assemble the agents stack from settings: execution engine, tools, runtime, service. The lead's
runtime calls `open_agents` once per process; the CLI does the same for `nexus agent run`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from nexus.agents.directory import AgentDirectory
from nexus.agents.model import HubModelCaller, ModelCaller
from nexus.agents.ports import AgentDefinitionStore, RunStore
from nexus.agents.runs import RunLog
from nexus.agents.runtime import AgentRuntime
from nexus.agents.service import AgentService
from nexus.agents.toolbox import Toolbox
from nexus.agents.tools.base import Tool, ToolFailed, ToolRegistry
from nexus.agents.tools.calculator import calculator_tool
from nexus.agents.tools.code import run_python_tool
from nexus.agents.tools.http import http_request_tool
from nexus.agents.tools.retrieval import Passage, Retriever, retrieval_tool
from nexus.config.settings import Settings
from nexus.execution import (
    AuditFn,
    EgressPolicy,
    EngineSettings,
    ExecutionEngine,
    IdempotencyStore,
    InProcessScheduler,
    Resolver,
    Scheduler,
)
from nexus.providers.hub import ModelHub


class NoRetriever:
    """Until a document index is wired (nexus.rag), the retrieval tool says so to the model."""

    async def search(self, tenant: str, collection: str, query: str, k: int) -> list[Passage]:
        raise ToolFailed("document search is not configured on this server")


def engine_settings(settings: Settings) -> EngineSettings:
    return EngineSettings(
        timeout_s=settings.execution_timeout_s,
        max_retries=settings.execution_max_retries,
        max_response_bytes=settings.execution_max_response_bytes,
        idempotency_window_s=settings.execution_idempotency_window_s,
    )


def builtin_tools(engine: ExecutionEngine, retriever: Retriever, *, code: bool) -> list[Tool]:
    tools: list[Tool] = [calculator_tool(), http_request_tool(engine), retrieval_tool(retriever)]
    if code:
        tools.append(run_python_tool())
    return tools


@dataclass(slots=True)
class Agents:
    service: AgentService
    runtime: AgentRuntime
    toolbox: Toolbox
    engine: ExecutionEngine
    scheduler: Scheduler
    _close_checkpointer: Callable[[], Awaitable[None]] | None = None

    async def aclose(self) -> None:
        await self.runtime.aclose()
        await self.scheduler.aclose()
        await self.toolbox.aclose()
        await self.engine.aclose()
        if self._close_checkpointer is not None:
            await self._close_checkpointer()


@dataclass(frozen=True, slots=True)
class Persistence:
    """Where agents keep what outlives a process; built from the store by the caller, e.g.
    `Persistence(AgentStore(store.sessions), AgentRunStore(store.sessions), SqlIdempotency(store.sessions))`
    (nexus.store.repos.agents, nexus.execution)."""

    definitions: AgentDefinitionStore
    runs: RunStore
    idempotency: IdempotencyStore


async def open_agents(
    settings: Settings,
    hub: ModelHub,
    persistence: Persistence,
    *,
    checkpointer: Any | None = None,
    model: ModelCaller | None = None,
    retriever: Retriever | None = None,
    audit: AuditFn | None = None,
    scheduler: Scheduler | None = None,
    extra_tools: Iterable[Tool] = (),
    resolver: Resolver | None = None,
) -> Agents:
    """The process's agents stack. Without a checkpointer, one is opened (and closed with it); the
    gateway passes the one its pipeline uses, so one checkpoint database serves both.

    `model` defaults to the hub (swap in a ChatService-backed caller); `retriever` to none (the tool
    reports it); `audit` to no audit sink (`nexus.execution.store_audit(store)` writes the audit log).
    """
    close = None
    if checkpointer is None:
        from nexus.pipeline.checkpoint import open_checkpointer

        checkpointer, close = await open_checkpointer(settings)
    policy = EgressPolicy(trusted=settings.execution_trusted, allowed_hosts=settings.execution_allowed_hosts)
    scheduler = scheduler or InProcessScheduler()
    engine = ExecutionEngine(
        policy,
        idempotency=persistence.idempotency,
        audit=audit,
        resolver=resolver,
        settings=engine_settings(settings),
        scheduler=scheduler,
    )
    registry = ToolRegistry(
        [*builtin_tools(engine, retriever or NoRetriever(), code=settings.agents_code_tool), *extra_tools]
    )
    toolbox = Toolbox(registry, engine=engine, policy=policy, resolver=resolver, secret=settings.secret)
    runtime = AgentRuntime(model or HubModelCaller(hub), checkpointer)
    directory = AgentDirectory(
        lambda: hub.catalogue.agents,
        persistence.definitions,
        tool_models=lambda: hub.catalogue.with_capability("tools"),
    )
    runs = RunLog(persistence.runs)
    service = AgentService(runtime=runtime, toolbox=toolbox, directory=directory, runs=runs)
    return Agents(service, runtime, toolbox, engine, scheduler, close)
