"""The back of the graph: workers, aggregator, judge, escalation, QA, degradation, delivery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nexus.pipeline import prompts
from nexus.pipeline.deps import Deps, emit, guarded, traced
from nexus.pipeline.events import (
    AggregatedData,
    CallData,
    DegradedData,
    EscalatedData,
    FinalData,
    JudgedData,
    QAData,
    TokenTotals,
    WorkerDoneData,
    WorkerStartedData,
)
from nexus.pipeline.state import DegradedNote, JudgeState, Msg, QAState, ResultState, RunState, TaskState
from nexus.pipeline.verdict import VerdictParseError, parse_verdict

# Turns of a session kept in the checkpoint; older ones are compressed away anyway.
HISTORY_LIMIT = 40


class BackNodes:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self.worker = traced("worker", deps.tracer)(self._worker)
        self.aggregate = traced("aggregate", deps.tracer)(guarded("aggregate")(self._aggregate))
        self.judge = traced("judge", deps.tracer)(guarded("judge")(self._judge))
        self.escalate = traced("escalate", deps.tracer)(guarded("escalate")(self._escalate))
        self.qa = traced("qa", deps.tracer)(self._qa)
        self.qa_retry = traced("qa_retry", deps.tracer)(self._qa_retry)
        self.fallback = traced("fallback", deps.tracer)(self._fallback)
        self.deliver = traced("deliver", deps.tracer)(self._deliver)

    async def _worker(self, task: TaskState) -> dict[str, Any]:
        """One task on its routed model, under the per-subtask timeout; a failure is a result, not a raise."""
        i, model = task["index"], task["model"]
        emit("worker", WorkerStartedData(index=i, model=model, domain=task["domain"], text=task["text"]))
        timeout = self.d.settings.subtask_timeout_s
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                res = await self.d.call(
                    task["run_id"],
                    model,
                    task["context"],
                    role="worker",
                    stream=task["stream"],
                    deliverable=task.get("deliverable", False),
                    params=task["params"],
                )
        except TimeoutError:
            return self._worker_failed(task, f"timed out after {timeout:g}s", started)
        except Exception as exc:  # provider down etc.: the aggregator (or the fallback) deals with it
            return self._worker_failed(task, f"{type(exc).__name__}: {exc}"[:300], started)
        emit(
            "worker",
            WorkerDoneData(
                index=i,
                model=res.model,
                ok=True,
                latency_ms=round(res.latency_ms, 2),
                tokens=res.usage.total_tokens,
                cost_usd=res.cost_usd,
            ),
        )
        result: ResultState = {
            "index": i,
            "text": task["text"],
            "model": res.model,
            "ok": True,
            "answer": res.text,
            "tool_calls": res.tool_calls,
            "finish_reason": res.finish_reason,
        }
        return {"results": [result], "calls": [res.record("worker")]}

    def _worker_failed(self, task: TaskState, error: str, started: float) -> dict[str, Any]:
        ms = round((time.perf_counter() - started) * 1000, 2)
        emit(
            "worker",
            WorkerDoneData(index=task["index"], model=task["model"], ok=False, error=error, latency_ms=ms),
        )
        result: ResultState = {
            "index": task["index"],
            "text": task["text"],
            "model": task["model"],
            "ok": False,
            "error": error,
        }
        return {"results": [result]}

    async def _aggregate(self, state: RunState) -> dict[str, Any]:
        results = sorted(state.get("results") or [], key=lambda r: r["index"])
        ok = [r for r in results if r["ok"]]
        if not ok:
            errors = "; ".join(str(r.get("error")) for r in results) or "no worker ran"
            return {"failed": {"node": "worker", "error": errors}}
        live = bool(state.get("live"))
        if not state.get("fanout"):
            only = ok[0]
            if self.d.settings.single_expert == "passthrough" or only.get("tool_calls"):
                emit("aggregate", AggregatedData(mode="passthrough", model=only["model"], parts=1))
                return {
                    "answer": only.get("answer", ""),
                    "answer_model": only["model"],
                    "tool_calls": only.get("tool_calls"),
                    "finish_reason": only.get("finish_reason", "stop"),
                }
            model = self.d.catalogue.role("aggregator")
            res = await self.d.call(
                state["run_id"],
                model,
                prompts.enhance_messages(state["message"], only.get("answer", "")),
                role="aggregator",
                stream=True,
                deliverable=live,
            )
            emit("aggregate", AggregatedData(mode="enhance", model=res.model, parts=1))
            return {"answer": res.text, "answer_model": res.model, "calls": [res.record("aggregator")]}
        model = self.d.catalogue.role("aggregator")
        missing = [
            {"index": r["index"], "text": r["text"], "error": r.get("error")} for r in results if not r["ok"]
        ]
        res = await self.d.call(
            state["run_id"],
            model,
            prompts.aggregator_messages(state["message"], [dict(r) for r in results]),
            role="aggregator",
            stream=True,
            deliverable=live,
        )
        emit("aggregate", AggregatedData(mode="synthesis", model=res.model, parts=len(ok), missing=missing))
        return {"answer": res.text, "answer_model": res.model, "calls": [res.record("aggregator")]}

    async def _judge(self, state: RunState) -> dict[str, Any]:
        model = self.d.catalogue.role("judge")
        res = await self.d.call(
            state["run_id"], model, prompts.judge_messages(state["message"], state["answer"]), role="judge"
        )
        threshold = self.d.settings.judge_threshold
        try:
            verdict = parse_verdict(res.text)
        except VerdictParseError as exc:
            emit("judge", JudgedData(model=res.model, parsed=False, raw=res.text[:300], threshold=threshold))
            return {"failed": {"node": "judge", "error": str(exc)}, "calls": [res.record("judge")]}
        judged: JudgeState = {
            "score": verdict.score,
            "critique": verdict.critique,
            "threshold": threshold,
            "passed": verdict.score >= threshold,
            "model": res.model,
        }
        emit("judge", JudgedData(parsed=True, **judged))
        return {"judge": judged, "calls": [res.record("judge")]}

    async def _escalate(self, state: RunState) -> dict[str, Any]:
        model = self.d.catalogue.role("escalation")
        verdict = state.get("judge")
        critique = verdict["critique"] if verdict else ""
        emit(
            "escalate",
            EscalatedData(
                model=model,
                from_model=state.get("answer_model"),
                score=verdict["score"] if verdict else None,
                critique=critique,
            ),
        )
        msgs = prompts.escalation_messages(state["message"], state["answer"], critique)
        res = await self.d.call(
            state["run_id"], model, msgs, role="escalation", stream=True, params=state.get("params")
        )
        return {"answer": res.text, "answer_model": res.model, "calls": [res.record("escalation")]}

    async def _qa(self, state: RunState) -> dict[str, Any]:
        attempt = state.get("qa_attempts") or 0
        answer = state.get("answer") or ""
        try:
            verdict = self.d.qa(answer, state.get("qa_spec") or {})
        except Exception as exc:  # a broken checker must not eat the answer; the verdict says so
            verdict = {
                "passed": False,
                "failures": [f"QA could not run: {type(exc).__name__}"],
                "checks": [],
                "error": True,
            }
        failures = [str(f) for f in verdict.get("failures") or []]
        update: dict[str, Any] = {}
        masked = False
        if not verdict["passed"] and self.d.mask is not None:
            # Whatever QA found, a secret or personal data in the answer is never delivered raw
            # (masking is idempotent and cheap, so it runs on any failed verdict).
            clean = self.d.mask(answer)
            masked = clean != answer
            update["answer"] = clean
        # A client that already received the answer live cannot be served a second draft.
        can_retry = not state.get("live") and not state.get("tool_calls")
        retry = (
            can_retry
            and not verdict["passed"]
            and not verdict.get("error")
            and attempt < self.d.settings.qa_retries
        )
        qa: QAState = {
            "passed": bool(verdict["passed"]),
            "failures": failures,
            "checks": list(verdict.get("checks") or []),
            "error": bool(verdict.get("error")),
            "attempt": attempt,
            "will_retry": retry,
            "masked": masked,
        }
        emit("qa", QAData(**qa))
        return {**update, "qa": qa}

    async def _qa_retry(self, state: RunState) -> dict[str, Any]:
        attempt = (state.get("qa_attempts") or 0) + 1
        model = state.get("answer_model") or self.d.catalogue.role("default")
        failures = list(state["qa"].get("failures") or [])
        msgs = prompts.qa_retry_messages(
            [dict(m) for m in state.get("context") or []], state.get("answer") or "", failures
        )
        try:
            res = await self.d.call(
                state["run_id"], model, msgs, role="qa_retry", stream=True, params=state.get("params")
            )
        except Exception as exc:  # keep the first answer; its QA verdict goes with it
            note: DegradedNote = {
                "node": "qa_retry",
                "error": f"{type(exc).__name__}: {exc}"[:300],
                "fallback_model": None,
            }
            emit("qa_retry", DegradedData(**note))
            return {"qa_attempts": attempt, "degraded": [*(state.get("degraded") or []), note]}
        return {
            "answer": res.text,
            "answer_model": res.model,
            "qa_attempts": attempt,
            "calls": [res.record("qa_retry")],
        }

    async def _fallback(self, state: RunState) -> dict[str, Any]:
        failure = state.get("failed")
        model = self.d.best_available(state.get("allowed_models"))
        note: DegradedNote = {
            "node": failure["node"] if failure else None,
            "error": failure["error"] if failure else None,
            "fallback_model": model,
        }
        emit("fallback", DegradedData(**note))
        context: list[Msg] = state.get("context") or [{"role": "user", "content": state["message"]}]
        res = await self.d.call(
            state["run_id"],
            model,
            context,
            role="fallback",
            stream=True,
            deliverable=bool(state.get("live")),
            params=state.get("params"),
        )
        return {
            "answer": res.text,
            "answer_model": res.model,
            "tool_calls": res.tool_calls,
            "finish_reason": res.finish_reason,
            "failed": None,
            "degraded": [*(state.get("degraded") or []), note],
            "calls": [res.record("fallback")],
        }

    async def _deliver(self, state: RunState) -> dict[str, Any]:
        calls = state.get("calls") or []
        models: list[str] = []
        for c in calls:
            if c["model"] not in models:
                models.append(c["model"])
        prompt = sum(c["prompt_tokens"] for c in calls)
        completion = sum(c["completion_tokens"] for c in calls)
        answer = state.get("answer") or ""
        tool_calls = state.get("tool_calls")
        emit(
            "deliver",
            FinalData(
                answer=answer,
                model=state.get("answer_model"),
                models=models,
                tokens=TokenTotals(prompt=prompt, completion=completion, total=prompt + completion),
                cost_usd=round(sum(c["cost_usd"] for c in calls), 8),
                latency_ms=round((time.time() - float(state.get("started_at") or time.time())) * 1000, 2),
                calls=[CallData(**c) for c in calls],
                qa=dict(state["qa"]) if state.get("qa") else None,
                judge=dict(j) if (j := state.get("judge")) else None,
                degraded=[dict(d) for d in state.get("degraded") or []],
                clarified=bool(state.get("clarified")),
                tool_calls=tool_calls,
                finish_reason="tool_calls" if tool_calls else (state.get("finish_reason") or "stop"),
            ),
        )
        turn: Msg = {"role": "assistant", "content": answer}
        if tool_calls:
            turn["tool_calls"] = tool_calls
        history = [*(state.get("history") or []), {"role": "user", "content": state["message"]}, turn]
        return {"history": history[-HISTORY_LIMIT:]}
