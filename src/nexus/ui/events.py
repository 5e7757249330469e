"""Pipeline events → short readable lines, and a session's trace → chat history.

One summariser per event type in a table; an unknown type (or unknown keys) still renders, generically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Events that fill the sidebar; tokens are the answer itself and would flood it.
QUIET = frozenset({"token"})


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _kv(d: dict[str, Any], keys: Iterable[str]) -> str:
    parts = [f"{k}={d[k]}" for k in keys if d.get(k) not in (None, "", [], {})]
    return ", ".join(parts)


def _classified(d: dict[str, Any]) -> str:
    c = as_dict(d.get("classification")) or d
    flags = [k for k in ("can_self_answer", "ambiguous", "critical") if c.get(k)]
    if isinstance(c.get("flags"), list):
        flags += [str(f) for f in c["flags"]]
    text = _kv(c, ("domain", "complexity"))
    if flags:
        text += f"; flags: {', '.join(flags)}"
    subtasks = c.get("subtasks") or []
    if subtasks:
        text += f"; {len(subtasks)} subtasks"
    return text


def decision_of(d: dict[str, Any]) -> dict[str, Any]:
    dec = d.get("decision")
    return dec if isinstance(dec, dict) else d


def _routed(d: dict[str, Any]) -> str:
    dec = decision_of(d)
    exp = dec.get("explanation") or {}
    models = dec.get("models") or ([dec["model"]] if dec.get("model") else [])
    text = f"→ {', '.join(map(str, models))}" if models else ""
    if exp.get("rule"):
        text += f" (rule {exp['rule']})"
    if exp.get("reason"):
        text += f" — {exp['reason']}"
    return text


def _judged(d: dict[str, Any]) -> str:
    text = f"score {d['score']}" if d.get("score") is not None else ""
    if d.get("critique"):
        text += f" — {str(d['critique'])[:160]}"
    return text


def _final(d: dict[str, Any]) -> str:
    return _kv(d, ("models", "tokens", "cost_usd", "latency_ms"))


def _generic(d: dict[str, Any]) -> str:
    scalars = {k: v for k, v in d.items() if isinstance(v, str | int | float | bool) and k != "text"}
    return _kv(scalars, list(scalars)[:5])


SUMMARISERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "classified": _classified,
    "routed": _routed,
    "interrupt": lambda d: str(d.get("question", "")),
    "worker_started": lambda d: _kv(d, ("model", "domain", "subtask", "worker")),
    "worker_done": lambda d: _kv(d, ("model", "domain", "tokens", "latency_ms")),
    "aggregated": lambda d: _kv(d, ("model", "workers", "tokens")),
    "judged": _judged,
    "escalated": lambda d: _kv(d, ("from_model", "to_model", "model", "reason")),
    "qa": lambda d: _kv(as_dict(d.get("verdict")) or d, ("ok", "passed", "reason")),
    "degraded": lambda d: _kv(d, ("reason", "component", "detail")),
    "error": lambda d: str(d.get("message", "")),
    "final": _final,
}

ICONS = {
    "started": "▶️",
    "classified": "🏷️",
    "routed": "🧭",
    "interrupt": "❓",
    "worker_started": "🛠️",
    "worker_done": "✅",
    "aggregated": "🧩",
    "judged": "⚖️",
    "escalated": "⏫",
    "qa": "🔍",
    "degraded": "⚠️",
    "final": "🏁",
    "error": "❌",
    "done": "⏹️",
}


def summarise(etype: str, data: dict[str, Any]) -> str:
    return SUMMARISERS.get(etype, _generic)(data)


def timestamp(payload: dict[str, Any]) -> float | None:
    """An event's time in epoch seconds: live events carry a float, stored ones an ISO string."""
    ts = payload.get("ts")
    if isinstance(ts, int | float):
        return float(ts)
    if isinstance(ts, str):
        try:
            return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def first_timestamp(events: Iterable[dict[str, Any]]) -> float | None:
    return next((t for t in map(timestamp, events) if t is not None), None)


def event_line(payload: dict[str, Any], t0: float | None) -> str:
    """One sidebar line: icon, type, node, time since the run started, summary."""
    etype = str(payload.get("type", "?"))
    # Live and traced events carry `data`; rows from the store call it `payload`.
    data = as_dict(payload.get("data")) or as_dict(payload.get("payload"))
    ts = timestamp(payload)
    when = f"+{ts - t0:.2f}s" if ts is not None and t0 is not None else ""
    node = payload.get("node")
    head = f"{ICONS.get(etype, '•')} `{when}` **{etype}**" + (f" · {node}" if node and node != etype else "")
    summary = summarise(etype, data or {})
    return f"{head} — {summary}" if summary else head


@dataclass
class Turn:
    """One exchange of the chat: the user's text, the answer, and what the pipeline did."""

    user: str
    answer: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] | None = None
    question: str | None = None  # set when the run stopped to ask
    error: str | None = None

    def add(self, payload: dict[str, Any]) -> None:
        etype = payload.get("type")
        data = as_dict(payload.get("data"))
        if etype == "token":
            self.answer += str(data.get("text", ""))
            return
        self.events.append(payload)
        if etype == "routed":
            self.decision = decision_of(data)
        elif etype == "interrupt":
            self.question = str(data.get("question", "")) or "The assistant needs more detail."
        elif etype == "final":
            self.final = data
            if data.get("answer"):
                self.answer = str(data["answer"])
        elif etype == "error":
            self.error = str(data.get("message", "error"))


def _user_text(started: dict[str, Any]) -> str:
    for key in ("message", "reply", "input", "text"):
        if started.get(key):
            return str(started[key])
    return ""


def history_from_trace(trace: Any) -> list[Turn]:
    """Rebuild the chat from GET /trace, in the gateway's order: a turn per `started` event (a resumed
    run keeps its run id, so the run id alone does not separate the question from the reply)."""
    events = trace.get("events", []) if isinstance(trace, dict) else trace or []
    turns: list[Turn] = []
    for payload in (e for e in events if isinstance(e, dict)):
        if payload.get("type") == "started" or not turns:
            turns.append(Turn(user=_user_text(as_dict(payload.get("data")))))
        turns[-1].add(payload)
    return turns
