"""A session's trace in brief: one line per run (status, answer, models, tokens, cost, latency)."""

from __future__ import annotations

from typing import Any

from nexus.pipeline.events import Event


def summarise(events: list[Event]) -> dict[str, Any]:
    runs: dict[str, dict[str, Any]] = {}
    for e in events:
        run = runs.setdefault(
            e.run_id, {"run_id": e.run_id, "status": "running", "events": 0, "started": e.ts, "degraded": []}
        )
        run["events"] += 1
        if e.type == "final":
            for key in ("answer", "models", "tokens", "cost_usd", "latency_ms"):
                run[key] = e.data.get(key)
        elif e.type == "interrupt":
            run["question"] = e.data.get("question")
        elif e.type == "degraded":
            run["degraded"].append(e.data)
        elif e.type == "done":
            run["status"] = e.data.get("status", "completed")
    total_cost = sum(float(r.get("cost_usd") or 0.0) for r in runs.values())
    total_tokens = sum(int((r.get("tokens") or {}).get("total") or 0) for r in runs.values())
    return {
        "runs": list(runs.values()),
        "run_count": len(runs),
        "event_count": len(events),
        "total_cost_usd": round(total_cost, 8),
        "total_tokens": total_tokens,
    }
