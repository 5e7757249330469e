"""The back of the graph: workers, aggregator, judge, escalation, QA, degradation, delivery."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nexus.pipeline import prompts
from nexus.pipeline.deps import Deps, emit, guarded
from nexus.pipeline.state import RunState, Task
from nexus.pipeline.verdict import VerdictParseError, parse_verdict

# Turns of a session kept in the checkpoint; older ones are compressed away anyway.
HISTORY_LIMIT = 40


class BackNodes:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self.aggregate = guarded("aggregate")(self._aggregate)
        self.judge = guarded("judge")(self._judge)
        self.escalate = guarded("escalate")(self._escalate)

    async def worker(self, task: Task) -> dict[str, Any]:
        """One task on its routed model, under the per-subtask timeout; a failure is a result, not a raise."""
        i, model = task["index"], task["model"]
        emit("worker_started", "worker", index=i, model=model, domain=task["domain"], text=task["text"])
        timeout = self.d.settings.subtask_timeout_s
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                res = await self.d.call(
                    dict(task),
                    model,
                    task["context"],
                    role="worker",
                    stream=task["stream"],
                    params=task["params"],
                )
        except TimeoutError:
            return self._worker_failed(task, f"timed out after {timeout:g}s", started)
        except Exception as exc:  # provider down etc.: the aggregator (or the fallback) deals with it
            return self._worker_failed(task, f"{type(exc).__name__}: {exc}"[:300], started)
        emit(
            "worker_done",
            "worker",
            index=i,
            model=res.model,
            ok=True,
            latency_ms=round(res.latency_ms, 2),
            tokens=res.usage.total_tokens,
            cost_usd=res.cost_usd,
        )
        result = {"index": i, "text": task["text"], "model": res.model, "ok": True, "answer": res.text}
        return {"results": [result], "calls": [res.record("worker")]}

    def _worker_failed(self, task: Task, error: str, started: float) -> dict[str, Any]:
        ms = round((time.perf_counter() - started) * 1000, 2)
        emit(
            "worker_done",
            "worker",
            index=task["index"],
            model=task["model"],
            ok=False,
            error=error,
            latency_ms=ms,
        )
        result = {
            "index": task["index"],
            "text": task["text"],
            "model": task["model"],
            "ok": False,
            "error": error,
        }
        return {"results": [result]}

    async def _aggregate(self, state: RunState) -> dict[str, Any]:
        results = sorted(state.get("results") or [], key=lambda r: r["index"])
        ok = [r for r in results if r.get("ok")]
        if not ok:
            errors = "; ".join(str(r.get("error")) for r in results) or "no worker ran"
            return {"failed": {"node": "worker", "error": errors}}
        if not state.get("fanout"):
            only = ok[0]
            if self.d.settings.single_expert == "passthrough":
                emit("aggregated", "aggregate", mode="passthrough", model=only["model"], parts=1, missing=[])
                return {"answer": only["answer"], "answer_model": only["model"]}
            model = self.d.catalogue.role("aggregator")
            res = await self.d.call(
                state,
                model,
                prompts.enhance_messages(state["message"], only["answer"]),
                role="aggregator",
                stream=True,
            )
            emit("aggregated", "aggregate", mode="enhance", model=res.model, parts=1, missing=[])
            return {"answer": res.text, "answer_model": res.model, "calls": [res.record("aggregator")]}
        model = self.d.catalogue.role("aggregator")
        missing = [
            {"index": r["index"], "text": r["text"], "error": r.get("error")}
            for r in results
            if not r.get("ok")
        ]
        res = await self.d.call(
            state,
            model,
            prompts.aggregator_messages(state["message"], results),
            role="aggregator",
            stream=True,
        )
        emit("aggregated", "aggregate", mode="synthesis", model=res.model, parts=len(ok), missing=missing)
        return {"answer": res.text, "answer_model": res.model, "calls": [res.record("aggregator")]}

    async def _judge(self, state: RunState) -> dict[str, Any]:
        model = self.d.catalogue.role("judge")
        res = await self.d.call(
            state, model, prompts.judge_messages(state["message"], state["answer"]), role="judge"
        )
        threshold = self.d.settings.judge_threshold
        try:
            verdict = parse_verdict(res.text)
        except VerdictParseError as exc:
            emit("judged", "judge", model=res.model, parsed=False, raw=res.text[:300], threshold=threshold)
            return {"failed": {"node": "judge", "error": str(exc)}, "calls": [res.record("judge")]}
        passed = verdict.score >= threshold
        judged = {
            "score": verdict.score,
            "critique": verdict.critique,
            "threshold": threshold,
            "passed": passed,
            "model": res.model,
        }
        emit("judged", "judge", parsed=True, **judged)
        return {"judge": judged, "calls": [res.record("judge")]}

    async def _escalate(self, state: RunState) -> dict[str, Any]:
        model = self.d.catalogue.role("escalation")
        verdict = state.get("judge") or {}
        emit(
            "escalated",
            "escalate",
            model=model,
            from_model=state.get("answer_model"),
            score=verdict.get("score"),
            critique=verdict.get("critique"),
        )
        msgs = prompts.escalation_messages(
            state["message"], state["answer"], str(verdict.get("critique") or "")
        )
        res = await self.d.call(
            state, model, msgs, role="escalation", stream=True, params=state.get("params")
        )
        return {"answer": res.text, "answer_model": res.model, "calls": [res.record("escalation")]}

    async def qa(self, state: RunState) -> dict[str, Any]:
        attempt = state.get("qa_attempts") or 0
        try:
            verdict = self.d.qa(state.get("answer") or "", state.get("qa_spec") or {})
        except Exception as exc:  # a broken checker must not eat the answer; the verdict says so
            verdict = {
                "passed": False,
                "failures": [f"QA could not run: {type(exc).__name__}"],
                "checks": [],
                "error": True,
            }
        retry = not verdict["passed"] and not verdict.get("error") and attempt < self.d.settings.qa_retries
        emit("qa", "qa", attempt=attempt, will_retry=retry, **verdict)
        return {"qa": {**verdict, "attempt": attempt, "will_retry": retry}}

    async def qa_retry(self, state: RunState) -> dict[str, Any]:
        attempt = (state.get("qa_attempts") or 0) + 1
        model = state.get("answer_model") or self.d.catalogue.role("default")
        failures = list((state.get("qa") or {}).get("failures") or [])
        msgs = prompts.qa_retry_messages(state.get("context") or [], state.get("answer") or "", failures)
        try:
            res = await self.d.call(
                state, model, msgs, role="qa_retry", stream=True, params=state.get("params")
            )
        except Exception as exc:  # keep the first answer; its QA verdict goes with it
            note = {"node": "qa_retry", "error": f"{type(exc).__name__}: {exc}"[:300], "fallback_model": None}
            emit("degraded", "qa_retry", **note)
            return {"qa_attempts": attempt, "degraded": [*(state.get("degraded") or []), note]}
        return {
            "answer": res.text,
            "answer_model": res.model,
            "qa_attempts": attempt,
            "calls": [res.record("qa_retry")],
        }

    async def fallback(self, state: RunState) -> dict[str, Any]:
        failure = state.get("failed") or {}
        model = self.d.best_available()
        note = {"node": failure.get("node"), "error": failure.get("error"), "fallback_model": model}
        emit("degraded", "fallback", **note)
        context = state.get("context") or [{"role": "user", "content": state["message"]}]
        res = await self.d.call(
            state, model, context, role="fallback", stream=True, params=state.get("params")
        )
        return {
            "answer": res.text,
            "answer_model": res.model,
            "failed": None,
            "degraded": [*(state.get("degraded") or []), note],
            "calls": [res.record("fallback")],
        }

    async def deliver(self, state: RunState) -> dict[str, Any]:
        calls = state.get("calls") or []
        models: list[str] = []
        for c in calls:
            if c["model"] not in models:
                models.append(c["model"])
        prompt = sum(c["prompt_tokens"] for c in calls)
        completion = sum(c["completion_tokens"] for c in calls)
        answer = state.get("answer") or ""
        emit(
            "final",
            "deliver",
            answer=answer,
            model=state.get("answer_model"),
            models=models,
            tokens={"prompt": prompt, "completion": completion, "total": prompt + completion},
            cost_usd=round(sum(c["cost_usd"] for c in calls), 8),
            latency_ms=round((time.time() - float(state.get("started_at") or time.time())) * 1000, 2),
            calls=calls,
            qa=state.get("qa") or None,
            judge=state.get("judge") or None,
            degraded=state.get("degraded") or [],
            clarified=bool(state.get("clarified")),
        )
        history = [
            *(state.get("history") or []),
            {"role": "user", "content": state["message"]},
            {"role": "assistant", "content": answer},
        ]
        return {"history": history[-HISTORY_LIMIT:]}
