"""Agent runs as a use case of the service layer: admitted, guarded and accounted like a chat turn.

    caller → the agent (another tenant's is not found) → admission (rate limits, hard budgets)
           → input guard on the task and the history (mask | flag | block, audited)
           → session ownership (another tenant's session is not found)
           → the run (nexus.agents): every model step is admitted again (one unit of model work each),
             its messages guarded (tool results masked too), its answer output-guarded, and metered
             under the run's work order (route "agent") → the Ledger charges the budgets

`await agents.start(caller, name, request)` does everything that can refuse the run before it returns,
so a door answers refusals with a status code; the handle's events then follow the run. A refusal in
a later step (a budget used up mid-run) ends the run with an `error` event carrying its code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, TypeVar

from nexus.agents import (
    AgentCaller,
    AgentError,
    AgentEvent,
    Agents,
    AgentView,
    ApprovalRequest,
    HubModelCaller,
    ModelCallFailed,
    ModelReply,
    ModelTurn,
    RunHandle,
    RunRequest,
    RunView,
)
from nexus.config.agents import AUTO_MODEL, AgentEntry
from nexus.config.settings import Settings
from nexus.guard import GuardBlocked, GuardPolicy
from nexus.providers.hub import ModelHub
from nexus.providers.tokens import estimate_prompt_tokens
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.accounting import Ledger
from nexus.service.admission import Admission
from nexus.service.errors import ServiceError
from nexus.service.guarding import RequestGuard
from nexus.service.identity import Caller
from nexus.service.sessions import SessionRegistry, check_session_id
from nexus.store import Store

P = ParamSpec("P")
T = TypeVar("T")

HEALTH_TTL_S = 10.0
# A run's status → its work order's.
WORK_ORDER_STATUS = {
    "completed": "done",
    "paused": "paused",
    "limited": "failed",
    "failed": "failed",
    "cancelled": "cancelled",
}


def service_error(exc: AgentError) -> ServiceError:
    return ServiceError(exc.status, exc.message, code=exc.code)


async def _mapped(call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
    """The agents library's typed errors as the service's (rendered by every door the same way)."""
    try:
        return await call(*args, **kwargs)
    except AgentError as exc:
        raise service_error(exc) from None


@dataclass(slots=True)
class RunGate:
    """What the model steps of one run are admitted, guarded and metered with."""

    caller: Caller
    work_order_id: str
    policy: GuardPolicy
    allowed_models: list[str] | None
    # The first step was admitted when the run was accepted (its refusal was the door's status).
    admitted: bool = True
    audited: set[str] = field(default_factory=set)


class GatedModelCaller:
    """The agents' ModelCaller in a gateway: each step through admission, the input guard, the hub
    (metered under the run's work order) and the output guard."""

    def __init__(self, hub: ModelHub, admission: Admission, guard: RequestGuard) -> None:
        self.hub_caller = HubModelCaller(hub)
        self.admission = admission
        self.guard = guard
        self.gates: dict[str, RunGate] = {}

    def resolve(self, model: str) -> str:
        return self.hub_caller.resolve(
            ModelTurn(model=model, messages=[], tools=[], tenant="", run_id="", agent="")
        )

    def _model(self, turn: ModelTurn, allowed: list[str] | None) -> str:
        """The step's model; `nexus-auto` stays inside the tenant's allow-list when it has one."""
        model = self.hub_caller.resolve(turn)
        if turn.model != AUTO_MODEL or allowed is None or model in allowed:
            return model
        hub = self.hub_caller.hub
        able = [m for m in hub.catalogue.with_capability("tools") if m in allowed and hub.is_available(m)]
        return able[0] if able else model

    async def __call__(self, turn: ModelTurn) -> ModelReply:
        gate = self.gates.get(turn.run_id)
        if gate is None:  # a run started past the service (the library's own callers): no gate
            return await self.hub_caller(turn)
        caller = gate.caller
        if gate.admitted:
            gate.admitted = False
        else:
            try:
                await self.admission.admit(caller.principal, lambda: _prompt_tokens(turn.messages))
            except ServiceError as exc:
                raise ModelCallFailed(exc.code or "refused", exc.message) from None
        model = self._model(turn, gate.allowed_models)
        if gate.allowed_models is not None and model not in gate.allowed_models:
            raise ModelCallFailed("model_not_allowed", f"The model {model!r} is not allowed for this tenant.")
        # Every message (tool results included) is masked before the upstream sees it; a block ends
        # the run (graph: guard_blocked). Decisions already audited for this run are not repeated.
        try:
            checked = gate.policy.check_messages(turn.messages, door=caller.door, model=model)
        except GuardBlocked as exc:
            self.guard.record(caller, exc.decisions, "input")
            raise
        fresh = [d for d in checked.decisions if _key(d) not in gate.audited]
        gate.audited.update(_key(d) for d in fresh)
        self.guard.record(caller, fresh, "input")
        masked = replace(turn, messages=checked.messages)
        meter = {
            "tenant": caller.tenant,
            "request_id": caller.request_id,
            "work_order_id": gate.work_order_id,
            "key_id": caller.principal.key_id or "",
            "role": "agent",
            "run_id": turn.run_id,
        }
        reply = await self.hub_caller.call(masked, model, meter)
        if reply.text:
            answer = gate.policy.check_answer(reply.text, door=caller.door)  # GuardBlocked ends the run
            self.guard.record(caller, answer.decisions, "output")
            if answer.text != reply.text:
                reply = replace(reply, text=answer.text)
        return reply


def _key(decision: Any) -> str:
    return repr(sorted(decision.public().items()))


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return estimate_prompt_tokens(str(m.get("content") or "") for m in messages)


class AgentsService:
    """The doors' agents use cases (HTTP API, the OpenAI door's `agent:<name>`)."""

    def __init__(
        self,
        *,
        agents: Agents,
        model: GatedModelCaller,
        hub: ModelHub,
        admission: Admission,
        guard: RequestGuard,
        ledger: Ledger,
        sessions: SessionRegistry,
    ) -> None:
        self.agents = agents
        self.library = agents.service
        self.model = model
        self.hub = hub
        self.admission = admission
        self.guard = guard
        self.ledger = ledger
        self.sessions = sessions
        agents.runtime.sinks.append(self._on_event)

    async def aclose(self) -> None:
        await self.agents.aclose()

    # -- agents ---------------------------------------------------------------------------------------
    async def list_agents(self, caller: Caller) -> list[dict[str, Any]]:
        views = await _mapped(self.library.list_agents, _agent_caller(caller))
        health, _ = await self.hub.cached_health(HEALTH_TTL_S)
        return [self._described(v, health) for v in views]

    async def get_agent(self, caller: Caller, name: str) -> dict[str, Any]:
        view = await _mapped(self.library.get_agent, _agent_caller(caller), name)
        health, _ = await self.hub.cached_health(HEALTH_TTL_S)
        return self._described(view, health)

    async def create_agent(self, caller: Caller, spec: AgentEntry) -> dict[str, Any]:
        """A tenant's own agent (no stdio MCP servers, no local files: `InvalidAgent`, 422)."""
        view = await _mapped(self.library.create_agent, _agent_caller(caller), spec)
        health, _ = await self.hub.cached_health(HEALTH_TTL_S)
        return self._described(view, health)

    async def delete_agent(self, caller: Caller, name: str) -> None:
        await _mapped(self.library.delete_agent, _agent_caller(caller), name)

    def _described(self, view: AgentView, health: dict[str, Any]) -> dict[str, Any]:
        model = self.model.resolve(view.model)
        h = health.get(model)
        return {
            "name": view.name,
            "description": view.description,
            "model": view.model,
            "tools": view.tools,
            "origin": view.origin,
            "require_approval": list(view.definition.require_approval),
            "limits": view.definition.limits.model_dump(),
            "health": {
                "model": model,
                "available": self.hub.is_available(model),
                "ok": h.ok if h is not None else None,
                "latency_ms": h.latency_ms if h is not None else None,
                "detail": h.detail if h is not None else "",
            },
        }

    # -- runs -----------------------------------------------------------------------------------------
    async def start(self, caller: Caller, name: str, request: RunRequest) -> RunHandle:
        """Refusals are raised here, before any event: the agent not found (404), limits and budgets
        (429), the guard (400), another tenant's session (404), a session waiting for approval (409)."""
        who = _agent_caller(caller)
        view = await _mapped(self.library.get_agent, who, name)
        routed = view.model == AUTO_MODEL
        history = [ChatMessage(role=m.role, content=m.content) for m in request.history]
        body = ChatRequest(
            model=view.model, messages=[*history, ChatMessage(role="user", content=request.task)]
        )
        await self.admission.admit(caller.principal, lambda: _prompt_tokens([{"content": request.task}]))
        outcome = await self.guard.check_request(caller, body, routed=routed)  # GuardBlocked → 400
        masked = [m.text() for m in outcome.request.messages]
        request = request.model_copy(
            update={
                "task": masked[-1],
                "history": [
                    h.model_copy(update={"content": t})
                    for h, t in zip(request.history, masked[:-1], strict=True)
                ],
            }
        )
        if request.session_id is not None:
            await self.sessions.claim(caller.tenant, check_session_id(request.session_id, "session_id"))
        handle = await _mapped(self.library.start_run, who, name, request)
        await self.ledger.open(
            caller,
            id=handle.run_id,
            route="agent",
            model_requested=view.model,
            session_id=handle.session_id,
            run_id=handle.run_id,
        )
        self.model.gates[handle.run_id] = RunGate(
            caller, handle.run_id, outcome.policy, outcome.allowed_models, audited=_audited(outcome)
        )
        return handle

    async def resume(self, caller: Caller, run_id: str, decision: ApprovalRequest) -> RunHandle:
        who = _agent_caller(caller)
        await _mapped(self.library.get_run, who, run_id, events=False)  # another tenant's: 404 first
        await self.admission.admit(caller.principal, lambda: 0)
        handle = await _mapped(self.library.resume_run, who, run_id, decision)
        policy = await self.guard.policy(caller.tenant)
        allowed = policy.config.allowed_models.get(policy.tenant or "")
        await self.ledger.reopen(caller, run_id)
        self.model.gates[run_id] = RunGate(
            caller, run_id, policy, None if allowed is None or "*" in allowed else list(allowed)
        )
        return handle

    async def cancel(self, caller: Caller, run_id: str) -> RunView:
        return await _mapped(self.library.cancel_run, _agent_caller(caller), run_id)

    async def get_run(self, caller: Caller, run_id: str, *, agent: str | None = None) -> RunView:
        return await _mapped(self.library.get_run, _agent_caller(caller), run_id, agent=agent)

    async def complete(
        self, caller: Caller, name: str, request: RunRequest
    ) -> tuple[RunHandle, list[AgentEvent]]:
        """Run to its end (or its pause): the handle and every event (the OpenAI door, non-stream)."""
        handle = await self.start(caller, name, request)
        return handle, [e async for e in handle.events]

    # -- the runs' sink -------------------------------------------------------------------------------
    async def _on_event(self, tenant: str, event: AgentEvent) -> None:
        d = event.data
        if d.type == "step":
            self.ledger.update(event.run_id, tenant, owner_model=d.model)
        elif d.type == "error":
            self.ledger.update(event.run_id, tenant, error=f"{d.code}: {d.message}"[:500])
        elif d.type == "done":
            gate = self.model.gates.pop(event.run_id, None)
            if gate is not None:
                self.ledger.close(event.run_id, WORK_ORDER_STATUS.get(d.status, "failed"))
            elif d.status == "cancelled":  # a paused run dropped: its work order was closed at the pause
                self.ledger.update(event.run_id, tenant, status="cancelled")


async def open_agents_service(
    settings: Settings,
    hub: ModelHub,
    store: Store,
    *,
    checkpointer: Any,
    admission: Admission,
    guard: RequestGuard,
    ledger: Ledger,
    sessions: SessionRegistry,
) -> AgentsService:
    """The process's agents, on the store (definitions, runs, idempotency, the execution audit) and
    the pipeline's checkpointer; close with `aclose()`."""
    from nexus.agents import Persistence, open_agents
    from nexus.execution import SqlIdempotency, store_audit
    from nexus.store.repos.agents import AgentRunStore, AgentStore

    model = GatedModelCaller(hub, admission, guard)
    persistence = Persistence(
        AgentStore(store.sessions), AgentRunStore(store.sessions), SqlIdempotency(store.sessions)
    )
    agents = await open_agents(
        settings, hub, persistence, checkpointer=checkpointer, model=model, audit=store_audit(store)
    )
    return AgentsService(
        agents=agents,
        model=model,
        hub=hub,
        admission=admission,
        guard=guard,
        ledger=ledger,
        sessions=sessions,
    )


def _agent_caller(caller: Caller) -> AgentCaller:
    p = caller.principal
    return AgentCaller(tenant=caller.tenant, request_id=caller.request_id, key_id=p.key_id, actor=p.subject)


def _audited(outcome: Any) -> set[str]:
    return {_key(d) for d in outcome.decisions}


__all__ = ["AgentsService", "GatedModelCaller", "RunGate", "service_error"]
