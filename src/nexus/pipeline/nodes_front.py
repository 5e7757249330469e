"""The front of the graph: compress, classify, clarify (interrupt), self-answer, route."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from langgraph.types import interrupt

from nexus.pipeline import prompts
from nexus.pipeline.compress import compress
from nexus.pipeline.deps import Deps, emit, guarded, traced
from nexus.pipeline.events import (
    ClassifiedData,
    CompressedData,
    RoutedData,
    RoutedSubtask,
    WorkerDoneData,
    WorkerStartedData,
)
from nexus.pipeline.state import ClassificationState, Msg, RunState, TaskState
from nexus.routing.base import Classification, Decision, RouteContext

DEFAULT_QUESTION = "Could you say a bit more about what you need, so I can give a useful answer?"


def uses_tools(state: RunState) -> bool:
    """The client sent tools or tool results: one tools-capable model answers, nothing is rewritten."""
    if (state.get("params") or {}).get("tools"):
        return True
    return any(m.get("role") == "tool" or m.get("tool_calls") for m in state.get("context") or [])


def strict_qa(state: RunState) -> bool:
    """The request's own QA (a response format, required/forbidden text) may reject a draft."""
    spec = state.get("qa_spec") or {}
    return "response_format" in spec or "completeness" in spec


class FrontNodes:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self.prepare = traced("compress", deps.tracer)(guarded("compress")(self._prepare))
        self.classify = traced("classify", deps.tracer)(guarded("classify")(self._classify))
        self.self_answer = traced("self_answer", deps.tracer)(guarded("self_answer")(self._self_answer))
        self.route = traced("route", deps.tracer)(guarded("route")(self._route))

    def _target_window(self) -> int:
        cat = self.d.catalogue
        workers = {cat.role("default"), cat.role("aggregator"), *cat.workers.values()}
        return min(cat.get(m).context_window for m in workers if cat.get(m) is not None)  # type: ignore[union-attr]

    async def _prepare(self, state: RunState) -> dict[str, Any]:
        base: list[Msg] = state.get("context") or [
            *(state.get("history") or []),
            {"role": "user", "content": state["message"]},
        ]
        if uses_tools(state):
            # Summarising could separate a tool call from its result; the client owns this history.
            return {"context": base}
        summarise = self._summariser(state)
        out = await compress(
            [dict(m) for m in base], self._target_window(), self.d.settings.keep_last_turns, summarise
        )
        if out.changed:
            emit(
                "compress",
                CompressedData(
                    before_tokens=out.before_tokens,
                    after_tokens=out.after_tokens,
                    summarised=out.summarised,
                    dropped=out.dropped,
                    notes=out.notes,
                ),
            )
        return {"context": cast(list[Msg], out.messages)}

    def _summariser(self, state: RunState) -> Any:
        async def summarise(old: list[dict[str, Any]]) -> str:
            res = await self.d.call(
                state["run_id"],
                self.d.catalogue.role("compressor"),
                prompts.compress_messages(old),
                role="compressor",
            )
            return res.text

        return summarise

    def _route_context(self, state: RunState) -> RouteContext:
        return RouteContext(
            tenant=state.get("tenant"),
            session_model=state.get("answer_model") or None,
            allowed_models=state.get("allowed_models"),
        )

    async def _classify(self, state: RunState) -> dict[str, Any]:
        # The router classifies as part of deciding; one decide() here serves both the
        # `classified` event and, on the single-task path, the route (no second embedding).
        text = state["message"]
        decision = await asyncio.to_thread(self.d.router.decide, text, self._route_context(state))
        c = decision.explanation.classification
        if c is None and self.d.classifier is not None:
            c = await asyncio.to_thread(self.d.classifier.classify, text)
        c = c or Classification(domain="conversation", complexity="simple")
        if uses_tools(state):
            # An agent framework drives this turn: no clarifying question, no self-answer, no split.
            c = c.model_copy(update={"ambiguous": False, "can_self_answer": False, "subtasks": []})
        if state.get("flagged") and not c.critical:
            c = c.model_copy(update={"critical": True})
        allowed = state.get("allowed_models")
        if allowed is not None and self.d.catalogue.role("self_answer") not in allowed:
            c = c.model_copy(update={"can_self_answer": False})
        emit("classify", ClassifiedData(**c.model_dump()))
        live = bool(state.get("stream")) and not c.critical and not strict_qa(state)
        classification = cast(ClassificationState, c.model_dump(mode="json"))
        return {"classification": classification, "decision": decision.model_dump(mode="json"), "live": live}

    async def clarify(self, state: RunState) -> dict[str, Any]:
        # No side effects before interrupt(): on resume this node runs again from the top.
        question = state["classification"].get("clarifying_question") or DEFAULT_QUESTION
        reply = interrupt({"question": question})
        folded = prompts.fold_clarification(state["message"], question, str(reply))
        context = list(state.get("context") or [])
        if context and context[-1].get("role") == "user":
            context[-1] = {**context[-1], "content": folded}
        else:
            context.append({"role": "user", "content": folded})
        return {"message": folded, "context": context, "clarified": True}

    async def _self_answer(self, state: RunState) -> dict[str, Any]:
        model = self.d.catalogue.role("self_answer")
        live = bool(state.get("live"))
        emit(
            "self_answer",
            RoutedData(model=model, rule="self-answer", reason="the classifier judged it trivial", live=live),
        )
        emit("self_answer", WorkerStartedData(index=0, model=model, role="self_answer"))
        res = await self.d.call(
            state["run_id"],
            model,
            state["context"],
            role="self_answer",
            stream=True,
            deliverable=live,
            params=state.get("params"),
        )
        emit(
            "self_answer",
            WorkerDoneData(index=0, model=res.model, ok=True, latency_ms=round(res.latency_ms, 2)),
        )
        return {
            "answer": res.text,
            "answer_model": res.model,
            "tool_calls": res.tool_calls,
            "finish_reason": res.finish_reason,
            "calls": [res.record("self_answer")],
        }

    async def _route(self, state: RunState) -> dict[str, Any]:
        c = state["classification"]
        subtasks = [s for s in c.get("subtasks") or [] if s.strip()]
        ctx = self._route_context(state)
        experts = self.d.catalogue.experts
        live = bool(state.get("live"))
        if len(subtasks) >= 2:
            decisions = await asyncio.to_thread(lambda: [self.d.router.decide(t, ctx) for t in subtasks])
            tasks: list[TaskState] = []
            for i, (text, dec) in enumerate(zip(subtasks, decisions, strict=True)):
                domain = _domain(dec, c)
                overall = f"Overall request: {state['message']}\n\nYour part: {text}"
                ctx_msgs = _with_expert(experts.get(domain), [{"role": "user", "content": overall}])
                tasks.append(
                    _task(state, i, text, dec.model, domain, ctx_msgs, stream=False, deliverable=False)
                )
            emit(
                "route",
                RoutedData(
                    fanout=True,
                    live=live,
                    subtasks=[
                        RoutedSubtask(
                            index=t["index"],
                            text=t["text"],
                            model=t["model"],
                            domain=t["domain"],
                            explanation=d.explanation,
                        )
                        for t, d in zip(tasks, decisions, strict=True)
                    ],
                ),
            )
            return {"tasks": tasks, "fanout": True}
        stashed = state.get("decision")
        dec = (
            Decision.model_validate(stashed)
            if stashed
            else await asyncio.to_thread(self.d.router.decide, state["message"], ctx)
        )
        domain = _domain(dec, c)
        passthrough = self.d.settings.single_expert == "passthrough"
        task = _task(
            state,
            0,
            state["message"],
            dec.model,
            domain,
            _with_expert(experts.get(domain), state["context"]),
            stream=passthrough,
            deliverable=passthrough and live,
        )
        emit(
            "route",
            RoutedData(
                fanout=False,
                model=dec.model,
                alternatives=dec.alternatives,
                rule=dec.explanation.rule,
                reason=dec.explanation.reason,
                explanation=dec.explanation,
                live=live,
            ),
        )
        return {"tasks": [task], "fanout": False}


def _domain(dec: Decision, c: ClassificationState) -> str:
    own = dec.explanation.classification
    return own.domain if own is not None else str(c.get("domain") or "conversation")


def _with_expert(prompt: str | None, messages: list[Msg]) -> list[Msg]:
    return [{"role": "system", "content": prompt}, *messages] if prompt else list(messages)


def _task(
    state: RunState,
    index: int,
    text: str,
    model: str,
    domain: str,
    context: list[Msg],
    *,
    stream: bool,
    deliverable: bool,
) -> TaskState:
    return {
        "index": index,
        "text": text,
        "model": model,
        "domain": domain,
        "run_id": state.get("run_id", ""),
        "tenant": state.get("tenant", ""),
        "context": context,
        "params": state.get("params") or {},
        "stream": stream,
        "deliverable": deliverable,
    }
