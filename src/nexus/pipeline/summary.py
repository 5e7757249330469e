"""A session's trace in brief: one line per run (status, answer, models, tokens, cost, latency)."""

from __future__ import annotations

from typing import Any

from nexus.pipeline.events import DegradedData, DoneData, Event, FinalData, InterruptData


def summarise(events: list[Event]) -> dict[str, Any]:
    runs: dict[str, dict[str, Any]] = {}
    for e in events:
        run = runs.setdefault(
            e.run_id, {"run_id": e.run_id, "status": "running", "events": 0, "started": e.ts, "degraded": []}
        )
        run["events"] += 1
        if isinstance(e.data, FinalData):
            f = e.data
            run |= {
                "answer": f.answer,
                "models": f.models,
                "tokens": f.tokens.model_dump(),
                "cost_usd": f.cost_usd,
                "latency_ms": f.latency_ms,
            }
        elif isinstance(e.data, InterruptData):
            run["question"] = e.data.question
        elif isinstance(e.data, DegradedData):
            run["degraded"].append(e.data.model_dump())
        elif isinstance(e.data, DoneData):
            run["status"] = e.data.status
    total_cost = sum(float(r.get("cost_usd") or 0.0) for r in runs.values())
    total_tokens = sum(int((r.get("tokens") or {}).get("total") or 0) for r in runs.values())
    return {
        "runs": list(runs.values()),
        "run_count": len(runs),
        "event_count": len(events),
        "total_cost_usd": round(total_cost, 8),
        "total_tokens": total_tokens,
    }
