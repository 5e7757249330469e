"""The Pipeline: start, resume and inspect runs; every run is an async stream of Events.

A run executes in its own task and pushes events into a queue, so events go out live and a client
that disconnects does not cut the run short (its trace and the session history still complete).
One LangGraph thread per (tenant, session): the checkpoint holds the session's history and any
paused run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, cast

from langgraph.types import Command, Overwrite

from nexus.config.settings import Settings
from nexus.pipeline.checkpoint import open_checkpointer
from nexus.pipeline.deps import Deps
from nexus.pipeline.events import DoneData, ErrorData, Event, InterruptData, Payload, StartedData
from nexus.pipeline.graph import build_graph
from nexus.pipeline.locks import RedisRunLocks, RunLocks
from nexus.pipeline.ports import ClassifierLike, EventSink, RouterLike
from nexus.pipeline.qa import QAChecker, default_checker, spec_from_request
from nexus.pipeline.trace import MemoryTrace
from nexus.providers.deadline import Deadline
from nexus.providers.deadline import start as deadline_start
from nexus.providers.hub import ModelHub
from nexus.providers.metering import call_context

log = logging.getLogger("nexus.pipeline")

_END = object()


class NotPaused(LookupError):
    """Resume was asked for a session with no paused run (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class Paused:
    run_id: str
    question: str


class Pipeline:
    def __init__(
        self,
        deps: Deps,
        checkpointer: Any,
        sinks: list[EventSink] | None = None,
        locks: RunLocks | None = None,
    ) -> None:
        self.deps = deps
        # Across processes (Redis): one run per session's thread in the whole deployment.
        self.locks = locks
        self.graph = build_graph(deps, checkpointer)
        self.trace = MemoryTrace()
        self.sinks: list[EventSink] = list(sinks or [])
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    # -- public API ---------------------------------------------------------------------------------
    def run(
        self,
        message: str,
        *,
        session_id: str | None = None,
        tenant: str = "default",
        messages: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
        qa: dict[str, Any] | None = None,
        stream: bool = False,
        allowed_models: list[str] | None = None,
        run_id: str | None = None,
        flagged: bool = False,
        clarify: bool = True,
        meter: dict[str, str] | None = None,
        deadline: Deadline | None = None,
        started: StartedData | None = None,
    ) -> AsyncIterator[Event]:
        """A new run on the session: `message` alone (the session's history is added) or, from the
        OpenAI door, the client's whole `messages` list. `stream` asks for the answer's tokens live;
        `flagged` (the input guard flagged the request) makes the run critical, so the judge reviews it;
        `meter` is the metering context every model call of the run carries (tenant, work order…)."""
        session_id = session_id or uuid.uuid4().hex
        run_id = run_id or uuid.uuid4().hex
        params = dict(params or {})
        spec = spec_from_request(params.get("response_format"), qa)
        graph_input: dict[str, Any] = {
            "run_id": run_id,
            "session_id": session_id,
            "tenant": tenant,
            "started_at": time.time(),
            "message": message,
            "context": list(messages or []),
            "params": params,
            "qa_spec": spec,
            "stream": stream,
            "live": False,
            "allowed_models": allowed_models,
            "flagged": flagged,
            "clarify": clarify,
            "decision": {},
            "clarified": False,
            "tasks": [],
            "fanout": False,
            "results": Overwrite([]),
            "calls": Overwrite([]),
            "answer": "",
            "tool_calls": None,
            "finish_reason": "stop",
            "judge": None,
            "qa": {},
            "qa_attempts": 0,
            "degraded": [],
            "failed": None,
        }
        first = (started or StartedData()).model_copy(update={"message": message, "resumed": False})
        return self._drive(graph_input, tenant, session_id, run_id, first, meter, deadline)

    async def paused(self, session_id: str, tenant: str = "default") -> Paused | None:
        snapshot = await self.graph.aget_state(self._config(tenant, session_id))
        for task in snapshot.tasks:
            for intr in task.interrupts:
                value = intr.value if isinstance(intr.value, dict) else {"question": str(intr.value)}
                return Paused(
                    run_id=str(snapshot.values.get("run_id", "")), question=str(value.get("question", ""))
                )
        return None

    async def resume(
        self,
        session_id: str,
        reply: str,
        tenant: str = "default",
        *,
        stream: bool = False,
        meter: dict[str, str] | None = None,
        deadline: Deadline | None = None,
        started: StartedData | None = None,
    ) -> AsyncIterator[Event]:
        """Continue the session's paused run with the user's reply; NotPaused when there is none."""
        paused = await self.paused(session_id, tenant)
        if paused is None:
            raise NotPaused(f"session {session_id!r} has no paused run to resume")
        command: Command[Any] = Command(resume=reply, update={"started_at": time.time(), "stream": stream})
        first = (started or StartedData()).model_copy(update={"reply": reply, "resumed": True})
        return self._drive(command, tenant, session_id, paused.run_id, first, meter, deadline)

    def cancel(self, run_id: str) -> bool:
        """Stop a running run now (its model calls are cancelled upstream; it ends `cancelled`): a voice
        barge-in, say. False when it is not running here."""
        task = self._runs.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def aclose(self) -> None:
        self._closing = True  # runs cut now were interrupted by the process stopping
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- driving a run ------------------------------------------------------------------------------
    def _config(self, tenant: str, session_id: str) -> dict[str, Any]:
        return {
            "configurable": {"thread_id": f"{tenant}:{session_id}"},
            "max_concurrency": self.deps.settings.max_parallel_workers,
            "recursion_limit": 50,
        }

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def _shared(self, key: str) -> AbstractAsyncContextManager[None]:
        return self.locks.hold(key) if self.locks is not None else contextlib.nullcontext()

    async def _drive(
        self,
        graph_input: Any,
        tenant: str,
        session_id: str,
        run_id: str,
        start: StartedData,
        meter: dict[str, str] | None,
        deadline: Deadline | None = None,
    ) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        context = contextvars.copy_context()
        # The run's task carries the turn's metering context explicitly, whoever iterates the events.
        context.run(call_context.set, {**(meter or {"tenant": tenant}), "run_id": run_id})
        context.run(deadline_start, deadline)  # one deadline for all the run's calls
        task = asyncio.create_task(
            self._execute(graph_input, tenant, session_id, run_id, start, queue), context=context
        )
        self._tasks.add(task)
        self._runs[run_id] = task
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._runs.pop(run_id, None))
        while True:
            item = await queue.get()
            if item is _END:
                return
            yield item

    async def _execute(
        self,
        graph_input: Any,
        tenant: str,
        session_id: str,
        run_id: str,
        start: StartedData,
        queue: asyncio.Queue[Any],
    ) -> None:
        seq = 0

        def out(payload: Payload, node: str) -> None:
            nonlocal seq
            seq += 1
            event = Event.of(payload, run_id=run_id, session_id=session_id, node=node, seq=seq)
            self._publish(tenant, event)
            queue.put_nowait(event)

        config = self._config(tenant, session_id)
        status = "completed"
        question: str | None = None
        try:
            thread = config["configurable"]["thread_id"]
            async with self._lock(thread), self._shared(thread):
                out(start, "pipeline")
                async for mode, chunk in self.graph.astream(
                    graph_input, config, stream_mode=["custom", "updates"], durability="exit"
                ):
                    if mode == "custom":
                        node, payload = chunk
                        out(payload, node)
                    elif isinstance(chunk, dict) and "__interrupt__" in chunk:
                        value = chunk["__interrupt__"][0].value
                        question = str(value.get("question", "")) if isinstance(value, dict) else str(value)
            # Announced only after the graph has exited, i.e. after the pause is checkpointed.
            if question is not None:
                status = "paused"
                out(InterruptData(question=question), "clarify")
        except asyncio.CancelledError:
            status = "interrupted" if self._closing else "cancelled"
            raise
        except Exception as exc:  # the graph itself failed (checkpointer, bug): the client is told
            log.exception("pipeline run failed", extra={"run_id": run_id})
            status = "failed"
            out(ErrorData(message=f"{type(exc).__name__}: {exc}"[:500], code="pipeline_failed"), "pipeline")
        finally:
            out(DoneData(status=status), "pipeline")
            queue.put_nowait(_END)

    def _publish(self, tenant: str, event: Event) -> None:
        self.trace.record(tenant, event)
        for sink in self.sinks:
            try:
                sink(tenant, event)
            except Exception:  # a broken sink must not break the run
                log.exception("event sink failed")


def router_ref(router: RouterLike | Callable[[], RouterLike]) -> Callable[[], RouterLike]:
    """A router, or a callable returning the current one (rebuilt on catalogue reload), as a callable."""
    if hasattr(router, "decide"):
        fixed = cast(RouterLike, router)
        return lambda: fixed
    return cast(Callable[[], RouterLike], router)


def build_pipeline(
    hub: ModelHub,
    router: RouterLike | Callable[[], RouterLike],
    classifier: ClassifierLike | None,
    settings: Settings,
    checkpointer: Any,
    sink: EventSink | None = None,
    qa: QAChecker | None = None,
    mask: Callable[[str], str] | None = None,
    tracer: Callable[[], Any] | None = None,
) -> Pipeline:
    """The process's pipeline; `sink` receives every event (e.g. the store's run-events writer)."""
    _ = settings  # pipeline knobs live in the catalogue (hub.catalogue.pipeline), reloadable
    deps = Deps(
        hub=hub, router_ref=router_ref(router), classifier=classifier, qa=qa or default_checker(), mask=mask
    )
    if tracer is not None:
        deps.tracer = tracer
    return Pipeline(deps, checkpointer, [sink] if sink is not None else [])


async def open_pipeline(
    hub: ModelHub,
    router: RouterLike | Callable[[], RouterLike],
    settings: Settings,
    sink: EventSink | None = None,
    classifier: ClassifierLike | None = None,
    mask: Callable[[str], str] | None = None,
    tracer: Callable[[], Any] | None = None,
) -> tuple[Pipeline, Callable[[], Awaitable[None]]]:
    """Checkpointer + pipeline for an app's lifespan; the close function stops runs, then the saver.

    Without a classifier the router's own is used (it is the same object the router classifies with).
    """
    current = router_ref(router)()
    classifier = classifier or getattr(current, "classifier", None)
    checkpointer, close_saver = await open_checkpointer(settings)
    pipeline = build_pipeline(hub, router, classifier, settings, checkpointer, sink, mask=mask, tracer=tracer)
    locks = RedisRunLocks(settings.redis_url, settings.jobs_stream_prefix) if settings.redis_url else None
    pipeline.locks = locks

    async def close() -> None:
        await pipeline.aclose()
        if locks is not None:
            await locks.aclose()
        await close_saver()

    return pipeline, close
