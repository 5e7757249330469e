"""Admin · Service health: the heartbeat's latest state of each check (refreshed live) and its history."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from nexus.ui import common
from nexus.ui.admin import require_admin
from nexus.ui.tables import items_of

c = common.page("Service health", "🩺")
require_admin(c)

ICON = {"ok": "🟢 ok", "warning": "🟡 warning", "critical": "🔴 critical", "skipped": "⚪ skipped"}
COLORS = alt.Scale(
    domain=["ok", "warning", "critical", "skipped"], range=["#2e7d32", "#f9a825", "#c62828", "#9e9e9e"]
)

if st.button(
    "Run checks now", help="Runs every check in the gateway and records the results (global admins)."
):
    ran: Any = common.call(c.run_checks)
    if isinstance(ran, dict):
        st.success(f"Checks ran in {common.fmt_ms(ran.get('elapsed_ms'))}: {ran.get('status')}.")


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "check": r.get("name"),
                "state": ICON.get(str(r.get("state")), r.get("state")),
                "detail": r.get("detail"),
                "latency": common.fmt_ms(r.get("latency_ms")) if r.get("latency_ms") is not None else "—",
                "tenant": r.get("tenant") or "",
                "at": r.get("ts"),
            }
            for r in rows
        ]
    )


@st.fragment(run_every=common.POLL_INTERVAL_S)
def live() -> None:
    data: Any = common.call(c.health_history, limit=500)
    if not isinstance(data, dict):
        return
    latest = items_of(data, "latest")
    if not latest:
        st.info("No checks recorded yet: run `nexus heartbeat --service`, or press Run checks now.")
        return
    st.subheader(f"Now: {ICON.get(str(data.get('status')), data.get('status'))}")
    st.dataframe(_table(latest), hide_index=True, key="health_latest")
    history = items_of(data, "data")
    if history:
        df = pd.DataFrame(history)
        df["ts"] = pd.to_datetime(df["ts"])
        chart = (
            alt.Chart(df)
            .mark_circle(size=70)
            .encode(
                x=alt.X("ts:T", title="time"),
                y=alt.Y("name:N", title=None),
                color=alt.Color("state:N", scale=COLORS),
                tooltip=["name", "state", "detail", "ts"],
            )
        )
        st.subheader("History")
        st.altair_chart(chart, width="stretch")
        with st.expander("All results"):
            st.dataframe(_table(history), hide_index=True)


live()
