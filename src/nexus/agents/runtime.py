"""The agent runtime: start, resume and inspect runs; every run is an async stream of AgentEvents.

One LangGraph thread per (tenant, agent, session): its checkpoint holds the session's memory and a
run paused for approval, so both survive a restart. A run executes in its own task and feeds a
queue, so a client that disconnects does not cut the run short. A run commits to the checkpoint when
it ends or pauses (durability "exit"): a crash mid-run leaves the memory as it was before the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from langgraph.types import Command

from nexus.agents.errors import NotAwaitingApproval, SessionBusy
from nexus.agents.events import AgentEvent, ApprovalRequired, Done, ErrorInfo, Started
from nexus.agents.graph import build_agent_graph
from nexus.agents.model import ModelCaller
from nexus.agents.state import RunContext
from nexus.agents.toolbox import Toolset
from nexus.agents.tools.base import ToolCall
from nexus.config.agents import AgentEntry

log = logging.getLogger("nexus.agents")

_END = object()
CANCELLED = "error: the run was cancelled before this call ran"

# Receives every event with its tenant, in order, before the client does.
RunSink = Callable[[str, AgentEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RunScope:
    """Which run, for whom."""

    tenant: str
    session_id: str
    run_id: str
    request_id: str = ""
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Approval:
    """A reviewer's decision: approve (or deny) every waiting call, or decide per call id."""

    approve: bool = True
    calls: dict[str, bool] | None = None

    def value(self) -> dict[str, Any]:
        return {"calls": dict(self.calls)} if self.calls is not None else {"approve": self.approve}


def thread_id(tenant: str, agent: str, session_id: str) -> str:
    return f"agent:{tenant}:{agent}:{session_id}"


class AgentRuntime:
    def __init__(self, model: ModelCaller, checkpointer: Any, sinks: list[RunSink] | None = None) -> None:
        self.model = model
        self.graph = build_agent_graph(checkpointer)
        self.sinks: list[RunSink] = list(sinks or [])
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        # run id → the task executing it in this process (cancel stops it).
        self._running: dict[str, asyncio.Task[None]] = {}

    # -- public API -------------------------------------------------------------------------------
    async def start(
        self,
        spec: AgentEntry,
        toolset: Toolset,
        task: str,
        scope: RunScope,
        history: list[dict[str, Any]] | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """A new run on the session. SessionBusy when the session waits for an approval.

        `history`: earlier turns the caller supplies (an OpenAI-style client sends its whole
        conversation); they go into the memory before the task and count as part of this run."""
        config = self._config(scope.tenant, spec.name, scope.session_id)
        snapshot = await self.graph.aget_state(config)
        if _interrupts(snapshot):
            raise SessionBusy(f"session {scope.session_id!r} is waiting for an approval; resume it first")
        graph_input = {
            "run_id": scope.run_id,
            "agent": spec.name,
            "tenant": scope.tenant,
            "session_id": scope.session_id,
            "request_id": scope.request_id,
            "started_at": time.time(),
            "messages": [*(history or []), {"role": "user", "content": task}],
            "run_start": -1 - len(history or []),  # made absolute by the first step
            "step": 0,
            "tool_calls": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": 0.0,
            "model": "",
            "pending": [],
            "needs_approval": False,
            "approvals": {},
            "status": "running",
            "answer": "",
            "stop": None,
        }
        started = Started(agent=spec.name, task=task)
        return self._drive(graph_input, spec, toolset, scope, started, 0)

    async def waiting(self, agent: str, tenant: str, session_id: str) -> tuple[str, list[ToolCall]] | None:
        """(run id, calls awaiting approval) when the session is paused, else None."""
        snapshot = await self.graph.aget_state(self._config(tenant, agent, session_id))
        found = _interrupts(snapshot)
        if not found:
            return None
        calls = [ToolCall.model_validate(c) for c in (found[0].get("calls") or [])]
        return str(snapshot.values.get("run_id", "")), calls

    async def resume(
        self, spec: AgentEntry, toolset: Toolset, scope: RunScope, approval: Approval, *, seq_start: int = 0
    ) -> AsyncIterator[AgentEvent]:
        waiting = await self.waiting(spec.name, scope.tenant, scope.session_id)
        if waiting is None or waiting[0] != scope.run_id:
            raise NotAwaitingApproval(f"run {scope.run_id!r} is not waiting for an approval")
        # Time spent waiting for a person does not count against the run's time limit.
        command: Command[Any] = Command(resume=approval.value(), update={"started_at": time.time()})
        return self._drive(command, spec, toolset, scope, Started(agent=spec.name, resumed=True), seq_start)

    def cancel(self, run_id: str) -> bool:
        """Stop a run executing in this process: its events end with `done` (cancelled); the session's
        memory stays as it was before the run. False when no such run executes here."""
        task = self._running.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def wait(self, run_id: str) -> None:
        """Until the run's task (in this process) has ended and told its sinks."""
        task = self._running.get(run_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def abandon(self, spec: AgentEntry, scope: RunScope, *, seq_start: int = 0) -> None:
        """Cancel a run paused for approval: its waiting calls are answered "cancelled" in the memory
        (so the next run's model sees every call answered), the pause is cleared and the run's sinks
        get `done` (cancelled). NotAwaitingApproval when the run is not the session's paused one."""
        waiting = await self.waiting(spec.name, scope.tenant, scope.session_id)
        if waiting is None or waiting[0] != scope.run_id:
            raise NotAwaitingApproval(f"run {scope.run_id!r} is not waiting for an approval")
        config = self._config(scope.tenant, spec.name, scope.session_id)
        async with self._lock(config["configurable"]["thread_id"]):
            snapshot = await self.graph.aget_state(config)
            pending = [ToolCall.model_validate(c) for c in (snapshot.values or {}).get("pending") or []]
            answered = [{"role": "tool", "tool_call_id": c.id, "content": CANCELLED} for c in pending]
            update = {
                "messages": answered,
                "pending": [],
                "needs_approval": False,
                "approvals": {},
                "status": "cancelled",
                "stop": {"code": "cancelled", "message": "the run was cancelled"},
            }
            # As if `think` had ended the run: its edge leads to END, so no node is left to run.
            await self.graph.aupdate_state(config, update, as_node="think")
        event = AgentEvent(
            run_id=scope.run_id,
            session_id=scope.session_id,
            agent=spec.name,
            seq=seq_start + 1,
            data=Done(status="cancelled"),
        )
        for sink in self.sinks:
            try:
                await sink(scope.tenant, event)
            except Exception:
                log.exception("agent run sink failed")

    async def memory(self, agent: str, tenant: str, session_id: str) -> list[dict[str, Any]]:
        """The session's remembered messages (user, assistant, tool), oldest first."""
        snapshot = await self.graph.aget_state(self._config(tenant, agent, session_id))
        return list((snapshot.values or {}).get("messages") or [])

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- driving a run ----------------------------------------------------------------------------
    @staticmethod
    def _config(tenant: str, agent: str, session_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id(tenant, agent, session_id)}, "recursion_limit": 500}

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def _drive(
        self,
        graph_input: Any,
        spec: AgentEntry,
        toolset: Toolset,
        scope: RunScope,
        started: Started,
        seq_start: int,
    ) -> AsyncIterator[AgentEvent]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        context = RunContext(spec=spec, toolset=toolset, model=self.model, key_id=scope.key_id)
        task = asyncio.create_task(self._execute(graph_input, context, scope, started, seq_start, queue))
        self._tasks.add(task)
        self._running[scope.run_id] = task
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: self._forget(scope.run_id, t))
        while True:
            item = await queue.get()
            if item is _END:
                return
            yield item

    def _forget(self, run_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(run_id) is task:
            del self._running[run_id]

    async def _execute(
        self,
        graph_input: Any,
        context: RunContext,
        scope: RunScope,
        started: Started,
        seq_start: int,
        queue: asyncio.Queue[Any],
    ) -> None:
        seq = seq_start
        agent = context.spec.name

        async def out(payload: Any) -> None:
            nonlocal seq
            seq += 1
            event = AgentEvent(
                run_id=scope.run_id, session_id=scope.session_id, agent=agent, seq=seq, data=payload
            )
            for sink in self.sinks:
                try:
                    await sink(scope.tenant, event)
                except Exception:  # a broken sink must not break the run
                    log.exception("agent run sink failed")
            queue.put_nowait(event)

        config = self._config(scope.tenant, agent, scope.session_id)
        status = "failed"
        try:
            async with self._lock(config["configurable"]["thread_id"]):
                await out(started)
                async for chunk in self.graph.astream(
                    graph_input, config, context=context, stream_mode="custom", durability="exit"
                ):
                    await out(chunk)
                snapshot = await self.graph.aget_state(config)
            waiting = _interrupts(snapshot)
            if waiting:
                # Announced only once the pause is checkpointed.
                status = "paused"
                calls = [ToolCall.model_validate(c) for c in waiting[0].get("calls") or []]
                await out(ApprovalRequired(calls=calls))
            else:
                values = snapshot.values or {}
                status = str(values.get("status") or "failed")
                stop = values.get("stop")
                if stop:
                    await out(ErrorInfo(code=str(stop.get("code")), message=str(stop.get("message"))))
        except asyncio.CancelledError:  # cancel(): the run stops where it is, nothing checkpointed
            status = "cancelled"
            raise
        except Exception:  # the graph itself failed (checkpointer, bug): told, without the internals
            log.exception("agent run failed", extra={"run_id": scope.run_id})
            status = "failed"
            await out(ErrorInfo(code="internal", message=f"the run failed unexpectedly (run {scope.run_id})"))
        finally:
            await out(Done(status=status))  # type: ignore[arg-type]
            queue.put_nowait(_END)


def _interrupts(snapshot: Any) -> list[dict[str, Any]]:
    found = []
    for task in getattr(snapshot, "tasks", ()) or ():
        for intr in task.interrupts:
            found.append(intr.value if isinstance(intr.value, dict) else {"calls": []})
    return found
