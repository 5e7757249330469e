"""The front of the graph: compress, classify, clarify (interrupt), self-answer, route."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.types import interrupt

from nexus.pipeline import prompts
from nexus.pipeline.compress import compress
from nexus.pipeline.deps import Deps, emit, guarded
from nexus.pipeline.state import RunState
from nexus.routing.base import Classification, Decision, RouteContext

DEFAULT_QUESTION = "Could you say a bit more about what you need, so I can give a useful answer?"


class FrontNodes:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self.prepare = guarded("compress")(self._prepare)
        self.classify = guarded("classify")(self._classify)
        self.self_answer = guarded("self_answer")(self._self_answer)
        self.route = guarded("route")(self._route)

    def _target_window(self) -> int:
        cat = self.d.catalogue
        workers = {cat.role("default"), cat.role("aggregator"), *cat.workers.values()}
        return min(cat.get(m).context_window for m in workers if cat.get(m) is not None)  # type: ignore[union-attr]

    async def _prepare(self, state: RunState) -> dict[str, Any]:
        base = state.get("context") or [
            *(state.get("history") or []),
            {"role": "user", "content": state["message"]},
        ]
        summarise = self._summariser(state)
        out = await compress(base, self._target_window(), self.d.settings.keep_last_turns, summarise)
        if out.changed:
            emit(
                "compressed",
                "compress",
                before_tokens=out.before_tokens,
                after_tokens=out.after_tokens,
                summarised=out.summarised,
                dropped=out.dropped,
                notes=out.notes,
            )
        return {"context": out.messages}

    def _summariser(self, state: RunState) -> Any:
        async def summarise(old: list[dict[str, Any]]) -> str:
            res = await self.d.call(
                state, self.d.catalogue.role("compressor"), prompts.compress_messages(old), role="compressor"
            )
            return res.text

        return summarise

    async def _classify(self, state: RunState) -> dict[str, Any]:
        # The router classifies as part of deciding; one decide() here serves both the
        # `classified` event and, on the single-task path, the route (no second embedding).
        text = state["message"]
        ctx = RouteContext(tenant=state.get("tenant"), session_model=state.get("answer_model") or None)
        decision = await asyncio.to_thread(self.d.router.decide, text, ctx)
        c = decision.explanation.classification
        if c is None and self.d.classifier is not None:
            c = await asyncio.to_thread(self.d.classifier.classify, text)
        c = c or Classification(domain="conversation", complexity="simple")
        data = c.model_dump(mode="json")
        emit("classified", "classify", **data)
        return {"classification": data, "decision": decision.model_dump(mode="json")}

    async def clarify(self, state: RunState) -> dict[str, Any]:
        # No side effects before interrupt(): on resume this node runs again from the top.
        question = state.get("classification", {}).get("clarifying_question") or DEFAULT_QUESTION
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
        emit(
            "routed",
            "self_answer",
            model=model,
            rule="self-answer",
            reason="the classifier judged it trivial",
        )
        emit("worker_started", "self_answer", index=0, model=model, role="self_answer")
        res = await self.d.call(
            state, model, state["context"], role="self_answer", stream=True, params=state.get("params")
        )
        emit(
            "worker_done",
            "self_answer",
            index=0,
            model=res.model,
            ok=True,
            latency_ms=round(res.latency_ms, 2),
        )
        return {"answer": res.text, "answer_model": res.model, "calls": [res.record("self_answer")]}

    async def _route(self, state: RunState) -> dict[str, Any]:
        c = state.get("classification") or {}
        subtasks = [s for s in c.get("subtasks") or [] if s.strip()]
        ctx = RouteContext(tenant=state.get("tenant"), session_model=state.get("answer_model") or None)
        cat = self.d.catalogue
        experts = cat.experts
        if len(subtasks) >= 2:
            decisions = await asyncio.to_thread(lambda: [self.d.router.decide(t, ctx) for t in subtasks])
            tasks = []
            for i, (text, dec) in enumerate(zip(subtasks, decisions, strict=True)):
                domain = _domain(dec, c)
                ctx_msgs = _with_expert(
                    experts.get(domain),
                    [
                        {
                            "role": "user",
                            "content": f"Overall request: {state['message']}\n\nYour part: {text}",
                        }
                    ],
                )
                tasks.append(_task(state, i, text, dec.model, domain, ctx_msgs, stream=False))
            emit(
                "routed",
                "route",
                fanout=True,
                subtasks=[
                    {
                        "index": t["index"],
                        "text": t["text"],
                        "model": t["model"],
                        "domain": t["domain"],
                        "explanation": d.explanation.model_dump(mode="json"),
                    }
                    for t, d in zip(tasks, decisions, strict=True)
                ],
            )
            return {"tasks": tasks, "fanout": True}
        stashed = state.get("decision")
        dec = (
            Decision.model_validate(stashed)
            if stashed
            else await asyncio.to_thread(self.d.router.decide, state["message"], ctx)
        )
        domain = _domain(dec, c)
        stream = self.d.settings.single_expert == "passthrough"
        task = _task(
            state,
            0,
            state["message"],
            dec.model,
            domain,
            _with_expert(experts.get(domain), state["context"]),
            stream,
        )
        emit(
            "routed",
            "route",
            fanout=False,
            model=dec.model,
            alternatives=dec.alternatives,
            rule=dec.explanation.rule,
            reason=dec.explanation.reason,
            explanation=dec.explanation.model_dump(mode="json"),
        )
        return {"tasks": [task], "fanout": False}


def _domain(dec: Decision, c: dict[str, Any]) -> str:
    own = dec.explanation.classification
    return own.domain if own is not None else str(c.get("domain") or "conversation")


def _with_expert(prompt: str | None, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": "system", "content": prompt}, *messages] if prompt else list(messages)


def _task(
    state: RunState,
    index: int,
    text: str,
    model: str,
    domain: str,
    context: list[dict[str, Any]],
    stream: bool,
) -> dict[str, Any]:
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
    }
