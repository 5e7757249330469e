"""Agents: the pipeline's roles and workers, their configured models and current health; then the
tool-calling agents (nexus.agents) this tenant can run, with their tools and their model's health.

The gateway caches health for ~10 s, so refreshing this page never probes upstreams faster than that.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from nexus.ui import common
from nexus.ui.events import as_dict
from nexus.ui.tables import items_of

c = common.page("Agents", "🤝")


def _rows(items: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for a in items:
        h = as_dict(a.get("health"))
        rows.append(
            {
                "role": a.get("role"),
                "domain": a.get("domain", ""),
                "model": a.get("model"),
                "provider": a.get("provider"),
                "available": bool(a.get("available")),
                "healthy": "🟢 ok" if h.get("ok") else "🔴 down" if h else "⚪ unknown",
                "latency": common.fmt_ms(h.get("latency_ms")) if h.get("latency_ms") is not None else "—",
                "detail": h.get("detail", ""),
                "about": a.get("description", ""),
            }
        )
    return pd.DataFrame(rows)


data: Any = common.call(c.agents)
if isinstance(data, dict):
    if data.get("demo"):
        st.info("Demo mode: every model is simulated.", icon="🧪")
    st.subheader("Roles")
    st.dataframe(_rows(items_of(data, "agents")), hide_index=True, key="roles_table")
    st.subheader("Workers by domain")
    st.dataframe(
        _rows(items_of(data, "workers")).drop(columns=["role"]), hide_index=True, key="workers_table"
    )
    age = data.get("health_age_s")
    if isinstance(age, int | float):
        st.caption(f"Health measured {age:.0f} s ago (cached up to {data.get('health_ttl_s', 10):.0f} s).")


def _tool_agent_rows(items: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for a in items:
        h = as_dict(a.get("health"))
        ok = h.get("ok")
        rows.append(
            {
                "agent": a.get("name"),
                "about": a.get("description", ""),
                "model": h.get("model") or a.get("model"),
                "tools": ", ".join(str(t) for t in a.get("tools") or []),
                "asks before": ", ".join(str(t) for t in a.get("require_approval") or []),
                "origin": a.get("origin", ""),
                "healthy": "🟢 ok" if ok else "🔴 down" if ok is False else "⚪ unknown",
                "latency": common.fmt_ms(h.get("latency_ms")) if h.get("latency_ms") is not None else "—",
            }
        )
    return pd.DataFrame(
        rows, columns=["agent", "about", "model", "tools", "asks before", "origin", "healthy", "latency"]
    )


if isinstance(data, dict):
    tool_agents: Any = common.call(c.tool_agents)
    st.subheader("Tool-calling agents")
    st.caption('Run one with `POST /api/agents/{name}/runs` or `nexus agent run NAME "task"`.')
    st.dataframe(_tool_agent_rows(items_of(tool_agents, "data")), hide_index=True, key="tool_agents_table")
