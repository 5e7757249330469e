"""Agents: the pipeline's roles and workers, their configured models and current health.

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
