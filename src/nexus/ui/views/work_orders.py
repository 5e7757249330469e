"""Work orders: a filterable table of runs, and one run's events and model calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from nexus.ui import common
from nexus.ui.events import event_line, first_timestamp
from nexus.ui.tables import items_of, scalars

c = common.page("Work orders", "📋")

SINCE = {
    "any time": None,
    "last hour": timedelta(hours=1),
    "last 24 h": timedelta(days=1),
    "last 7 days": timedelta(days=7),
}
STATUSES = ["", "pending", "running", "paused", "done", "failed"]

f1, f2, f3, f4 = st.columns([1, 1, 1, 1])
status = f1.selectbox("Status", STATUSES, format_func=lambda s: s or "any", key="wo_status")
model = f2.text_input("Model", key="wo_model", placeholder="any")
since_label = f3.selectbox("Time", list(SINCE), key="wo_since")
limit = f4.number_input("Limit", min_value=10, max_value=1000, value=100, step=10, key="wo_limit")
delta = SINCE[since_label]
since = (datetime.now(UTC) - delta).isoformat() if delta else None

data = common.call(c.work_orders, status=status, model=model.strip(), since=since, limit=int(limit))
rows = items_of(data, "work_orders")
if data is not None:
    if not rows:
        st.info("No work orders match these filters yet. Send a chat message and they appear here.")
    else:
        df = pd.DataFrame([scalars(r) for r in rows])
        st.caption(f"{len(rows)} work orders")
        st.dataframe(df, hide_index=True, key="wo_table")

        ids = [str(r.get("id")) for r in rows if r.get("id") is not None]
        chosen = st.selectbox(
            "Details of", ids, index=0 if ids else None, key="wo_detail", placeholder="choose a work order"
        )
        if chosen:
            detail: Any = common.call(c.work_order, chosen)
            if isinstance(detail, dict):
                st.subheader(f"Work order {chosen}")
                summary = scalars(detail)
                st.dataframe(
                    pd.DataFrame({"field": list(summary), "value": [str(v) for v in summary.values()]}),
                    hide_index=True,
                )
                calls = items_of(detail.get("model_calls") or detail.get("calls"), "model_calls")
                st.markdown(f"**Model calls** ({len(calls)})")
                if calls:
                    st.dataframe(pd.DataFrame([scalars(x) for x in calls]), hide_index=True)
                events = items_of(detail.get("events"), "events")
                st.markdown(f"**Events** ({len(events)})")
                t0 = first_timestamp(events)
                for e in events:
                    if e.get("type") != "token":
                        st.markdown(event_line(e, t0))
