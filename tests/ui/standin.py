"""A tiny stand-in of the gateway's UI-facing API, for iterating on the UI while the real routes land.

Only used when NEXUS_UI_STANDIN=1; the UI tests otherwise run against the real gateway in demo mode.
Run: python -m uvicorn tests.ui.standin:app --port N
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()
EVENTS: dict[str, list[dict[str, Any]]] = {}
PAUSED: set[str] = set()
ORDERS: list[dict[str, Any]] = []

DECISION = {
    "model": "kimi-k2",
    "alternatives": ["gpt-4o"],
    "explanation": {
        "classification": {"domain": "code", "complexity": "simple"},
        "neighbours": [{"model": "kimi-k2", "prototype": "write a function", "similarity": 0.8}],
        "scores": [
            {"model": "kimi-k2", "vote": 0.7, "predicted_quality": 0.8, "utility": 0.6},
            {"model": "gpt-4o", "vote": 0.3, "predicted_quality": 0.9, "utility": 0.4},
        ],
        "rule": "knn",
        "reason": "most similar prototypes belong to kimi-k2",
        "elapsed_ms": 3.2,
    },
}


class ChatBody(BaseModel):
    message: str
    session_id: str | None = None


class ResumeBody(BaseModel):
    session_id: str
    reply: str


def _ev(sid: str, run: str, seq: int, etype: str, data: dict[str, Any]) -> dict[str, Any]:
    e = {
        "type": etype,
        "run_id": run,
        "session_id": sid,
        "node": etype,
        "ts": time.time(),
        "seq": seq,
        "data": data,
    }
    EVENTS.setdefault(sid, []).append(e)
    return e


async def _run(sid: str, text: str, key: str) -> AsyncIterator[bytes]:
    run = uuid.uuid4().hex[:8]
    plan: list[tuple[str, dict[str, Any]]] = [("started", {key: text})]
    if key == "message" and text == "Fix it":
        plan += [("classified", {"domain": "conversation", "complexity": "simple", "ambiguous": True})]
        plan += [("interrupt", {"question": "What exactly do you need help with?"})]
        PAUSED.add(sid)
    else:
        answer = f"Here is the answer to: {text}"
        plan += [
            ("classified", {"domain": "code", "complexity": "simple"}),
            ("routed", {"decision": DECISION}),
        ]
        plan += [("worker_started", {"model": "kimi-k2"})]
        plan += [("token", {"text": w + " "}) for w in answer.split()]
        plan += [("worker_done", {"model": "kimi-k2"}), ("judged", {"score": 8, "critique": "fine"})]
        plan += [
            (
                "final",
                {
                    "answer": answer,
                    "models": ["kimi-k2"],
                    "tokens": 42,
                    "cost_usd": 0.0012,
                    "latency_ms": 321,
                },
            )
        ]
        ORDERS.append(
            {"id": run, "status": "completed", "model": "kimi-k2", "session_id": sid, "cost_usd": 0.0012}
        )
    plan += [("done", {})]
    for seq, (etype, data) in enumerate(plan):
        e = _ev(sid, run, seq, etype, data)
        yield f"event: {etype}\ndata: {json.dumps(e)}\n\n".encode()
        await asyncio.sleep(0.005)


@app.post("/chat")
async def chat(body: ChatBody) -> StreamingResponse:
    sid = body.session_id or uuid.uuid4().hex
    return StreamingResponse(_run(sid, body.message, "message"), media_type="text/event-stream")


@app.post("/resume")
async def resume(body: ResumeBody) -> StreamingResponse:
    if body.session_id not in PAUSED:
        raise HTTPException(409, "not paused")
    PAUSED.discard(body.session_id)
    return StreamingResponse(_run(body.session_id, body.reply, "reply"), media_type="text/event-stream")


@app.get("/trace/{session_id}")
def trace(session_id: str) -> dict[str, Any]:
    return {"session_id": session_id, "events": EVENTS.get(session_id, [])}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/work-orders")
def work_orders(limit: int = 100) -> dict[str, Any]:
    return {"object": "list", "data": ORDERS[-limit:]}


@app.get("/api/work-orders/{oid}")
def work_order(oid: str) -> dict[str, Any]:
    o = next(o for o in ORDERS if o["id"] == oid)
    events = [e for e in EVENTS[o["session_id"]] if e["run_id"] == oid]
    return {**o, "model_calls": [{"model": "kimi-k2", "tokens": 42}], "events": events}


@app.get("/api/metrics")
def metrics(period: str = "24h") -> dict[str, Any]:
    n = len(ORDERS)
    return {
        "period": period,
        "totals": {"requests": n, "tokens": 42 * n, "cost_usd": 0.0012 * n, "errors": 0},
        "latency": {"p50": 300, "p95": 400, "p99": 500},
        "timeseries": [{"hour": "2025-01-01T10:00:00Z", "requests": n, "tokens": 42 * n, "cost_usd": 0.001}],
        "per_model": [{"model": "kimi-k2", "requests": n, "cost_usd": 0.0012 * n}],
        "routing": {"by_model": {"kimi-k2": n}, "by_rule": {"knn": n}},
        "errors": [{"provider": "demo", "hour": 10, "count": 1}],
    }


@app.get("/models")
def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": "kimi-k2", "available": True, "tags": ["code"], "prototypes": 3}],
    }


@app.post("/route")
def route(body: dict[str, Any]) -> dict[str, Any]:
    return DECISION


@app.get("/api/agents")
def agents() -> dict[str, Any]:
    a = {"role": "judge", "model": "gpt-4o", "available": True, "health": {"ok": True, "latency_ms": 5}}
    return {"agents": [a], "workers": [{**a, "role": "worker", "domain": "code"}], "demo": True}


PROTOS: dict[str, list[str]] = {"kimi-k2": ["write a function", "fix this bug", "review my code"]}


@app.get("/models/{model_id}/prototypes")
def prototypes(model_id: str) -> dict[str, Any]:
    return {"model": model_id, "prototypes": PROTOS.get(model_id, [])}


@app.post("/models/{model_id}/prototypes", status_code=201)
def add_prototype(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    PROTOS.setdefault(model_id, []).append(body["text"])
    return {"model": model_id, "added": body["text"]}


@app.delete("/models/{model_id}/prototypes")
def remove_prototype(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    PROTOS[model_id].remove(body["text"])
    return {"model": model_id, "removed": body["text"]}
