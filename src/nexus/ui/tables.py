"""Tolerant readers for API payloads: list envelopes and flat rows for tables."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

ENVELOPE_KEYS = ("items", "data", "results")


def items_of(payload: Any, *names: str) -> list[dict[str, Any]]:
    """The list inside a payload: the payload itself, or under one of the usual envelope keys."""
    if isinstance(payload, list):
        return [x for x in payload if isinstance(x, dict)]
    if isinstance(payload, dict):
        for key in (*names, *ENVELOPE_KEYS):
            value = payload.get(key)
            if isinstance(value, list):
                return [x for x in value if isinstance(x, dict)]
    return []


def scalars(row: dict[str, Any]) -> dict[str, Any]:
    """A row fit for a table cell each: scalars kept, short lists joined, the rest as compact JSON."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is None or isinstance(v, str | int | float | bool):
            out[k] = v
        elif isinstance(v, dict) and v and all(isinstance(x, str | int | float | None) for x in v.values()):
            out.update({f"{k}.{sub}": x for sub, x in v.items()})  # e.g. latency_ms.p50
        elif isinstance(v, list) and all(isinstance(x, str | int | float) for x in v):
            out[k] = ", ".join(map(str, v))
        elif isinstance(v, list | dict) and len(json.dumps(v, default=str)) <= 120:
            out[k] = json.dumps(v, default=str)
    return out


def pick(payload: Any, *keys: str) -> Any:
    """The first present, non-empty value among `keys` of a dict payload."""
    if not isinstance(payload, dict):
        return None
    for k in keys:
        if payload.get(k) not in (None, "", [], {}):
            return payload[k]
    return None


def frame(payload: Any, *, index_name: str = "key", value_name: str = "value") -> pd.DataFrame:
    """A table from a list of rows, a mapping of name → row, or a mapping of name → number."""
    if isinstance(payload, list):
        return pd.DataFrame([scalars(r) for r in payload if isinstance(r, dict)])
    if isinstance(payload, dict) and payload:
        if all(isinstance(v, dict) for v in payload.values()):
            return pd.DataFrame([{index_name: k, **scalars(v)} for k, v in payload.items()])
        return pd.DataFrame(
            [{index_name: k, value_name: v} for k, v in payload.items() if isinstance(v, int | float)]
        )
    return pd.DataFrame()
