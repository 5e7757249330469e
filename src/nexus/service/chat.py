"""ChatService: the one path of a chat turn, whatever door it came through.

    caller (principal, tenant, door, request id)
      → admission (rate limits per key and tenant, hard budgets)
      → input guard (every message and content part, full layers; mask | flag | block, audited)
      → session ownership (another tenant's session is not found)
      → explicit model: the provider (retry, fallback, metering), output guard
        nexus-auto:     the pipeline (classify, route, workers, judge, QA…), output guard
      → accounting (the Ledger: work order, calls, budget spend)

`await chat.turn(caller, request)` does everything that can refuse the turn before it returns, so a
door can still answer with a status code; the returned `Turn` then yields typed Events. A door that
stops early calls `turn.aclose()`: the explicit path is cancelled upstream and its work order says
so, with the tokens produced; a pipeline run goes on to the end (its trace and session stay whole).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from nexus.config.settings import Settings
from nexus.guard import GuardBlocked, GuardPolicy, StreamGuard
from nexus.pipeline.events import (
    ChunkData,
    ErrorData,
    Event,
    FinalData,
    InterruptData,
    StartedData,
    TokenData,
    TokenTotals,
)
from nexus.pipeline.ports import TraceReader
from nexus.pipeline.runner import NotPaused, Pipeline
from nexus.providers.deadline import Deadline, deadline, request_timeout
from nexus.providers.deadline import start as deadline_start
from nexus.providers.errors import ProviderError
from nexus.providers.hub import ModelHub
from nexus.providers.metering import call_context
from nexus.providers.tokens import estimate_prompt_tokens
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Usage
from nexus.routing.ab import RouteOverrides, route_overrides
from nexus.service.accounting import Ledger
from nexus.service.admission import Admission
from nexus.service.cache import Lookup, SemanticCache
from nexus.service.errors import (
    ServiceError,
    forbidden,
    guard_blocked_error,
    invalid,
    not_found,
    provider_error,
)
from nexus.service.feedback import RouterTuning
from nexus.service.guarding import GuardOutcome, RequestGuard
from nexus.service.identity import Caller
from nexus.service.sessions import SessionRegistry, check_session_id, new_session_id

AUTO_MODEL = "nexus-auto"
# Request fields the pipeline hands to its answering calls.
PASSED_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "response_format",
    "seed",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
)
Resume = Literal["no", "yes", "auto"]


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What a door asks for. `chat` is OpenAI-shaped whatever the door's own protocol is."""

    chat: ChatRequest
    session_id: str | None = None
    # "yes": the last user text answers the session's paused run (409 when none); "auto": it does when
    # one is paused; "no": always a new run.
    resume: Resume = "no"
    # True when the client sends the whole conversation (OpenAI doors); False when the session keeps it.
    client_history: bool = True
    # Extra QA for this request: {"required": [...], "forbidden": [...]}.
    qa: dict[str, list[str]] | None = None
    # A queued work order: the turn accounts to this existing work order (and, routed, runs as its run).
    work_order_id: str | None = None
    # Admitted and guarded when the door accepted it (a queued work order): no second count or audit.
    prechecked: bool = False
    # False where no one can answer a clarifying question (a queued work order): the run goes on.
    clarify: bool = True


@dataclass(slots=True)
class Closing:
    """Why a turn was closed early, shared with the task that streams it (None: the client went away)."""

    reason: str | None = None


@dataclass(slots=True)
class Turn:
    """A started turn: ids for the door's headers, and its events (iterate once)."""

    work_order_id: str
    model: str
    routed: bool
    session_id: str | None
    run_id: str | None
    events: AsyncIterator[Event]
    flagged: list[str] = field(default_factory=list)
    closing: Closing = field(default_factory=lambda: Closing())
    # Stops a routed run now; closing the turn alone lets it finish in the background.
    stop_run: Callable[[], object] | None = None
    # The routing policy (A/B arm) of a routed turn, and what the semantic cache did (hit|miss|bypass).
    policy: str | None = None
    cache: str | None = None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self.events

    async def aclose(self) -> None:
        """The door is done with the turn (normally, or its client went away)."""
        close = getattr(self.events, "aclose", None)
        if close is not None:
            await close()

    async def cancel(self) -> None:
        """Stop the turn's work now: the upstream call (explicit) or the whole run (routed)."""
        if self.stop_run is not None:
            self.stop_run()
        await self.aclose()

    async def interrupt(self) -> None:
        """The server is stopping: the turn is cut, and its work order says `interrupted`."""
        self.closing.reason = "interrupted"
        await self.aclose()

    async def result(self) -> FinalData | InterruptData:
        """Run the turn to its end: the final answer, or the clarifying question of a paused run."""
        outcome: FinalData | InterruptData | None = None
        error: str | None = None
        try:
            async for event in self.events:
                if isinstance(event.data, FinalData | InterruptData):
                    outcome = event.data
                elif event.type == "error":
                    error = str(getattr(event.data, "message", "")) or "the run failed"
        finally:
            await self.aclose()
        if outcome is None:
            raise ServiceError(502, f"The pipeline failed: {error or 'no answer'}", code="pipeline_failed")
        return outcome


class ChatService:
    def __init__(
        self,
        *,
        settings: Settings,
        hub: ModelHub,
        pipeline: Pipeline,
        admission: Admission,
        guard: RequestGuard,
        ledger: Ledger,
        sessions: SessionRegistry,
        traces: TraceReader,
        tuning: RouterTuning | None = None,
        cache: SemanticCache | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.pipeline = pipeline
        self.admission = admission
        self.guard = guard
        self.ledger = ledger
        self.sessions = sessions
        self.traces = traces
        self.tuning = tuning  # A/B arms and each routed turn's record (feedback reads it)
        self.cache = cache  # the semantic cache (opt-in per tenant)

    async def turn(self, caller: Caller, req: TurnRequest) -> Turn:
        chat = req.chat
        if len(chat.messages) > self.settings.max_messages:
            raise invalid(
                f"Too many messages: the limit is {self.settings.max_messages}.",
                code="too_many_messages",
                param="messages",
            )
        routed = chat.model == AUTO_MODEL
        if not routed and not self.hub.entry(chat.model).visible_to(caller.tenant):
            raise self.hub.unknown(chat.model)  # another tenant's fine-tune: as if it did not exist
        if not routed and not self.hub.entry(chat.model).chat:  # UnknownModel → 404 before anything counts
            raise invalid(
                f"The model {chat.model!r} does not chat (audio only).",
                code="not_a_chat_model",
                param="model",
            )
        session_id = check_session_id(req.session_id) if req.session_id else None
        if not req.prechecked:
            await self.admission.admit(caller.principal, lambda: _prompt_tokens(chat))
        # GuardBlocked → 400, audited (a prechecked request was audited when it was accepted)
        outcome = await self.guard.check_request(caller, chat, routed=routed, audit=not req.prechecked)
        allowed = outcome.allowed_models
        if not routed and allowed is not None and chat.model not in allowed:
            raise forbidden(f"The model {chat.model!r} is not allowed for this tenant.")
        if session_id is not None and req.resume != "yes":
            await self.sessions.claim(caller.tenant, session_id)
        if not routed:
            return await self._explicit(caller, outcome, session_id, req.work_order_id)
        return await self._routed(caller, req, outcome, session_id)

    async def admit(self, caller: Caller, chat: ChatRequest, session_id: str | None) -> ChatRequest:
        """What `turn` checks before anything runs — limits, budgets, the guard (audited), the session —
        for a door that accepts work now and runs it later (a queued work order); returns the request as
        it may be stored (masked)."""
        routed = chat.model == AUTO_MODEL
        if not routed:
            self.hub.entry(chat.model)
        await self.admission.admit(caller.principal, lambda: _prompt_tokens(chat))
        outcome = await self.guard.check_request(caller, chat, routed=routed)
        if session_id is not None:
            await self.sessions.claim(caller.tenant, check_session_id(session_id))
        return outcome.request

    # -- the explicit model: the fast path (no graph, no embedding) ----------------------------------
    async def _explicit(
        self, caller: Caller, outcome: GuardOutcome, session_id: str | None, existing: str | None
    ) -> Turn:
        body = outcome.request
        fields: dict[str, Any] = {"session_id": session_id} if session_id else {}
        if existing is not None:
            wo_id = existing
            self.ledger.adopt(caller, wo_id, model_requested=body.model, **fields)
        else:
            wo_id = await self.ledger.open(caller, route="explicit", model_requested=body.model, **fields)
        meter = self._meter(caller, wo_id)
        closing = Closing()
        events = (
            self._complete(caller, outcome, wo_id, meter)
            if not body.stream
            else self._stream(caller, outcome, wo_id, meter, closing)
        )
        return Turn(
            work_order_id=wo_id,
            model=body.model,
            routed=False,
            session_id=session_id,
            run_id=None,
            events=events,
            closing=closing,
        )

    async def _complete(
        self, caller: Caller, outcome: GuardOutcome, wo_id: str, meter: dict[str, str]
    ) -> AsyncGenerator[Event, None]:
        body = outcome.request
        token = call_context.set(meter)
        try:
            with deadline(self._time_limit(body)):
                resp = await self.hub.complete(body.model, body)
        except ProviderError as exc:
            self.ledger.close(wo_id, "failed", error=_error_text(exc))
            raise
        finally:
            call_context.reset(token)
        entry = self.hub.catalogue.get(resp.model)
        self.ledger.close(wo_id, "done", owner_model=resp.model, provider=entry.provider if entry else None)
        if resp.choices and resp.choices[0].message.content:
            checked = self._answer(caller, outcome.policy, resp.choices[0].message.content)
            resp.choices[0].message.content = checked
        yield Event.of(_final_of(resp), node="explicit")

    async def _stream(
        self,
        caller: Caller,
        outcome: GuardOutcome,
        wo_id: str,
        meter: dict[str, str],
        closing: Closing,
    ) -> AsyncGenerator[Event, None]:
        """The upstream stream is read by its own task, carrying the turn's metering context explicitly,
        so the call is recorded for the right tenant and work order whichever task iterates the turn.
        Closing the turn (a client gone) cancels that task: the upstream call stops at once and the
        work order closes `cancelled` with the tokens produced, after the call's record is in."""
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=32)
        context = contextvars.copy_context()
        context.run(call_context.set, meter)
        task = asyncio.create_task(self._pump(caller, outcome, wo_id, queue, closing), context=context)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                yield Event.model_construct(type="chunk", data=ChunkData.model_construct(chunk=item))
        finally:
            # No await here: a door's cancelled task (a disconnect) would be cancelled again by it.
            if not task.done():
                task.cancel()

    async def _pump(
        self,
        caller: Caller,
        outcome: GuardOutcome,
        wo_id: str,
        queue: asyncio.Queue[Any],
        closing: Closing,
    ) -> None:
        body = outcome.request
        out_guard = outcome.policy.stream(door=caller.door)
        status, error, served = "cancelled", None, body.model
        deadline_start(Deadline.after(self._time_limit(body)))  # this task's context is the request's
        stream = self.hub.stream(body.model, body)
        try:
            async for chunk in stream:
                served = chunk.model or served
                chunk = _guarded(chunk, out_guard)
                if not _holding(chunk):  # else the output guard holds this text back for now
                    await queue.put(chunk)
            status = "done"
            await queue.put(_END)
        except asyncio.CancelledError:
            status = closing.reason or "cancelled"  # a client gone, or the server stopping
            raise
        except ProviderError as exc:
            status, error = "failed", _error_text(exc)
            await queue.put(exc)
        except GuardBlocked as exc:
            status, error = "failed", "the answer was blocked by the output guard"
            await queue.put(exc)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            self.guard.record(caller, out_guard.decisions, "output")
            entry = self.hub.catalogue.get(served)
            self.ledger.close(
                wo_id, status, error=error, owner_model=served, provider=entry.provider if entry else None
            )

    # -- nexus-auto: the pipeline --------------------------------------------------------------------
    async def _routed(
        self, caller: Caller, req: TurnRequest, outcome: GuardOutcome, session_id: str | None
    ) -> Turn:
        tenant, body, flagged = caller.tenant, outcome.request, outcome.flagged
        allowed = self._allowed_models(body, outcome.allowed_models)
        stream = bool(body.stream)
        paused = None
        if session_id is not None and req.resume != "no":
            if req.resume == "yes" and not await self.sessions.owned(tenant, session_id):
                raise not_found(f"Unknown session {session_id!r}.", code="session_not_found")
            paused = await self.pipeline.paused(session_id, tenant)
            if paused is None and req.resume == "yes":
                raise ServiceError(
                    409,
                    f"Session {session_id!r} has no paused run to resume; start a new run instead.",
                    code="not_paused",
                )
        session_id = session_id or self.sessions.create(tenant)
        reply = body.last_user_text()
        lookup: Lookup | None = None
        overrides: RouteOverrides | None = None
        if paused is not None:
            run_id = paused.run_id
            await self.ledger.reopen(caller, run_id)
            meter = self._meter(caller, run_id)
            started = StartedData(request_id=caller.request_id, work_order_id=run_id)
            try:
                events = await self.pipeline.resume(
                    session_id,
                    reply,
                    tenant,
                    stream=stream,
                    started=started,
                    meter=meter,
                    deadline=Deadline.after(self._time_limit(body)),
                )
            except NotPaused:  # resumed elsewhere in the meantime
                raise ServiceError(
                    409, f"Session {session_id!r} has no paused run.", code="not_paused"
                ) from None
        else:
            # The semantic cache: only a fresh question whose whole context the request carries.
            if (
                self.cache is not None
                and req.work_order_id is None
                and (req.client_history or not req.session_id)
            ):
                lookup = await self.cache.lookup(tenant, body, critical=bool(flagged))
                if lookup is not None and lookup.entry is not None:
                    return await self._cached(caller, outcome, lookup, session_id, stream)
            if req.work_order_id is not None:  # a queued work order runs as its own run
                run_id = req.work_order_id
                self.ledger.adopt(caller, run_id, route="pipeline", session_id=session_id, run_id=run_id)
            else:
                run_id = new_session_id()
                await self.ledger.open(
                    caller,
                    id=run_id,
                    route="pipeline",
                    model_requested=AUTO_MODEL,
                    session_id=session_id,
                    run_id=run_id,
                )
            meter = self._meter(caller, run_id)
            overrides = (
                await self.tuning.begin(caller, run_id, session_id, reply, lookup.status if lookup else None)
                if self.tuning is not None
                else None
            )
            params = body.model_dump(include=set(PASSED_PARAMS), exclude_none=True)
            messages = (
                [m.model_dump(exclude_none=True) for m in body.messages] if req.client_history else None
            )
            events = self.pipeline.run(
                reply,
                session_id=session_id,
                tenant=tenant,
                messages=messages,
                params=params,
                qa=req.qa,
                stream=stream,
                allowed_models=allowed,
                run_id=run_id,
                flagged=flagged,
                clarify=req.clarify,
                meter=meter,
                deadline=Deadline.after(self._time_limit(body)),
                started=StartedData(request_id=caller.request_id, work_order_id=run_id),
            )
            if overrides is not None:
                events = _with_overrides(overrides, events)
        guarded: AsyncIterator[Event] = self._output_guarded(caller, outcome.policy, events)
        if lookup is not None and lookup.status == "miss" and self.cache is not None:
            guarded = self.cache.filling(tenant, lookup, guarded)
        return Turn(
            work_order_id=run_id,
            model=AUTO_MODEL,
            routed=True,
            session_id=session_id,
            run_id=run_id,
            events=guarded,
            flagged=outcome.categories,
            stop_run=lambda: self.pipeline.cancel(run_id),
            policy=overrides.arm if overrides is not None else None,
            cache=lookup.status if lookup is not None else None,
        )

    async def _cached(
        self, caller: Caller, outcome: GuardOutcome, lookup: Lookup, session_id: str, stream: bool
    ) -> Turn:
        """A semantic cache hit: a work order of its own (route `cache`, no model call, $0), the stored
        answer through the output guard again."""
        entry = lookup.entry
        assert entry is not None
        wo_id = await self.ledger.open(
            caller, route="cache", model_requested=AUTO_MODEL, session_id=session_id
        )
        answer = self._answer(caller, outcome.policy, entry.answer)
        self.ledger.close(wo_id, "done", owner_model=entry.model, route_rule="cache-hit")

        async def events() -> AsyncGenerator[Event, None]:
            yield Event.of(
                StartedData(request_id=caller.request_id, work_order_id=wo_id),
                run_id=wo_id,
                session_id=session_id,
                node="cache",
            )
            if stream:
                token = TokenData(text=answer, model=entry.model, source="cache", deliverable=True)
                yield Event.of(token, run_id=wo_id, session_id=session_id, node="cache")
            final = FinalData(answer=answer, model=entry.model, models=[entry.model], cost_usd=0.0)
            yield Event.of(final, run_id=wo_id, session_id=session_id, node="cache")

        return Turn(
            work_order_id=wo_id,
            model=AUTO_MODEL,
            routed=True,
            session_id=session_id,
            run_id=None,
            events=events(),
            cache="hit",
        )

    def _answer(self, caller: Caller, policy: GuardPolicy, text: str) -> str:
        """A whole answer through the output guard (masked, or GuardBlocked), its decisions audited."""
        checked = policy.check_answer(text, door=caller.door)
        self.guard.record(caller, checked.decisions, "output")
        return checked.text

    async def _output_guarded(
        self, caller: Caller, policy: GuardPolicy, events: AsyncIterator[Event]
    ) -> AsyncGenerator[Event, None]:
        """A run's text as the client may see it: streamed tokens through a StreamGuard per source (a
        secret split across tokens is still caught), the final answer checked whole. A block ends the
        turn's events with an error; the run itself finishes in the background."""
        guards: dict[str, tuple[StreamGuard, TokenData]] = {}
        try:
            async for event in events:
                d = event.data
                if isinstance(d, TokenData):
                    guard = guards.get(d.source)
                    if guard is None:
                        guard = guards[d.source] = (policy.stream(door=caller.door), d)
                    text = guard[0].feed(d.text)
                    if text:
                        yield event.model_copy(update={"data": d.model_copy(update={"text": text})})
                    continue
                for source, (guard_, last) in list(guards.items()):
                    tail = guard_.finish()
                    del guards[source]
                    self.guard.record(caller, guard_.decisions, "output")
                    if tail:
                        yield event.model_copy(
                            update={"type": "token", "data": last.model_copy(update={"text": tail})}
                        )
                if isinstance(d, FinalData) and d.answer:
                    event = event.model_copy(
                        update={
                            "data": d.model_copy(update={"answer": self._answer(caller, policy, d.answer)})
                        }
                    )
                yield event
        except GuardBlocked as exc:
            yield Event.of(
                ErrorData(message=guard_blocked_error(exc).message, code="guard_blocked", status=400),
                node="guard",
            )
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()

    def _allowed_models(self, body: ChatRequest, tenant_allowed: list[str] | None) -> list[str] | None:
        """Models the request may be routed to (the tenant's allow-list, and those able to take it);
        a 400 when the request needs what no allowed model has."""
        needs: list[str] = []
        if body.tools or any(m.role == "tool" or m.tool_calls for m in body.messages):
            needs.append("tools")
        if any(
            isinstance(m.content, list) and any(p.get("type") == "image_url" for p in m.content)
            for m in body.messages
        ):
            needs.append("vision")
        if not needs:
            return tenant_allowed
        cat = self.hub.catalogue
        able = [
            m.id
            for m in cat.models
            if all(n in m.capabilities for n in needs)
            and self.hub.is_available(m.id)
            and (tenant_allowed is None or m.id in tenant_allowed)
        ]
        if not able:
            raise invalid(
                f"No available model supports {' and '.join(needs)}; name one explicitly or add "
                f"'capabilities: [{', '.join(needs)}]' to a catalogue entry that does.",
                code="unsupported_capability",
                param="tools" if "tools" in needs else "messages",
            )
        return able

    def _time_limit(self, body: ChatRequest) -> float:
        s = self.settings
        return request_timeout(body.timeout, s.total_timeout_s, s.request_timeout_max_s)

    def _meter(self, caller: Caller, wo_id: str) -> dict[str, str]:
        return {
            "tenant": caller.tenant,
            "request_id": caller.request_id,
            "work_order_id": wo_id,
            "key_id": caller.principal.key_id or "",
            "role": "worker",
        }

    async def trace_events(self, caller: Caller, session_id: str) -> list[Event]:
        """Every stored event of one of the caller's sessions; 404 for anyone else's."""
        check_session_id(session_id)
        events = await self.traces.session_events(caller.tenant, session_id)
        if not events:
            raise not_found(f"No trace for session {session_id!r}.", code="session_not_found")
        return events


_END = object()


async def _with_overrides(
    overrides: RouteOverrides, events: AsyncIterator[Event]
) -> AsyncGenerator[Event, None]:
    """The run's task is started (its context copied) on the first step of `events`: the turn's A/B arm
    is set for that step only, so it reaches every decision of the run and nothing else."""
    try:
        token = route_overrides.set(overrides)
        try:
            first = await anext(aiter(events), None)
        finally:
            route_overrides.reset(token)
        if first is None:
            return
        yield first
        async for event in events:
            yield event
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def _error_text(exc: ProviderError) -> str:
    """What a work order keeps of an upstream failure: the client-facing text (credentials masked)."""
    mapped = provider_error(exc)
    return f"{exc.kind}: {mapped.message}"[:500]


def _prompt_tokens(chat: ChatRequest) -> int:
    return estimate_prompt_tokens(m.text() for m in chat.messages)


def _final_of(resp: ChatResponse) -> FinalData:
    u = resp.usage or Usage()
    choice = resp.choices[0] if resp.choices else None
    return FinalData(
        answer=resp.text,
        model=resp.model,
        models=[resp.model],
        tokens=TokenTotals(prompt=u.prompt_tokens, completion=u.completion_tokens, total=u.total_tokens),
        tool_calls=choice.message.tool_calls if choice else None,
        finish_reason=(choice.finish_reason or "stop") if choice else "stop",
        response=resp,
    )


def _guarded(chunk: ChatChunk, guard: StreamGuard) -> ChatChunk:
    """Streamed text through the output guard: it holds back a short window so a secret split across
    chunks is still caught, and releases the rest with the chunk that finishes the choice."""
    if not chunk.choices:
        return chunk
    choice = chunk.choices[0]
    text = guard.feed(choice.delta.content) if choice.delta.content else ""
    if choice.finish_reason is not None:
        text += guard.finish()
    if text != (choice.delta.content or ""):
        choice.delta.content = text
    return chunk


def _holding(chunk: ChatChunk) -> bool:
    if not chunk.choices:
        return False
    c = chunk.choices[0]
    return not c.delta.content and c.finish_reason is None and not c.delta.tool_calls and c.delta.role is None
