"""Metrics: cost, tokens, requests and latency over time and per model/provider; routing distribution;
errors by provider and hour. One GET /api/metrics per page run; no polling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from nexus.ui import common
from nexus.ui.tables import frame, pick

c = common.page("Metrics", "📈")

PERIODS = ["today", "24h", "7d", "30d"]
period = st.segmented_control("Period", PERIODS, default="24h", key="period") or "24h"
m: Any = common.call(c.metrics, period)

if isinstance(m, dict):
    totals = pick(m, "totals", "total") or {}
    latency = pick(m, "latency", "latency_ms") or pick(totals, "latency", "latency_ms") or {}
    cols = st.columns(7)
    tiles: list[tuple[str, Any, Callable[[Any], str]]] = [
        ("Requests", pick(totals, "requests", "count"), str),
        ("Tokens", pick(totals, "tokens", "total_tokens"), str),
        ("Cost", pick(totals, "cost_usd", "cost"), common.fmt_cost),
        ("Errors", pick(totals, "errors", "error_count"), str),
        ("p50", pick(latency, "p50", "p50_ms"), common.fmt_ms),
        ("p95", pick(latency, "p95", "p95_ms"), common.fmt_ms),
        ("p99", pick(latency, "p99", "p99_ms"), common.fmt_ms),
    ]
    for col, (label, value, fmt) in zip(cols, tiles, strict=True):
        col.metric(label, fmt(value) if value is not None else "—")

    st.subheader("Over time")
    series = frame(pick(m, "timeseries", "hourly", "series", "time_series"), index_name="hour")
    if series.empty:
        st.caption("No traffic in this period yet.")
    else:
        x = next((k for k in ("hour", "ts", "time", "bucket", "t") if k in series.columns), series.columns[0])
        series[x] = pd.to_datetime(
            series[x], errors="coerce", utc=True, unit="s" if series[x].dtype.kind in "if" else None
        )
        wanted = [
            ("Requests", ("requests", "count")),
            ("Tokens", ("tokens", "total_tokens")),
            ("Cost (USD)", ("cost_usd", "cost")),
            ("Latency (ms)", ("p50", "p95", "p99", "latency_p50", "latency_p95", "latency_p99")),
        ]
        tabs = st.tabs([label for label, _ in wanted])
        for tab, (label, keys) in zip(tabs, wanted, strict=True):
            present = [k for k in keys if k in series.columns]
            with tab:
                if present:
                    st.bar_chart(
                        series.groupby(x)[present].sum()
                    )  # rows come per hour and provider; bars show a lone hour too
                else:
                    st.caption(f"No {label.lower()} series in this response.")

    for title, keys in (
        ("Per model", ("per_model", "by_model", "models")),
        ("Per provider", ("per_provider", "by_provider", "providers")),
        ("Per tenant", ("per_tenant", "by_tenant", "tenants")),
    ):
        df = frame(pick(m, *keys), index_name=title.split()[-1])
        if df.empty:
            continue
        st.subheader(title)
        label = df.columns[0]
        left, right = st.columns([1, 1])
        numeric = [k for k in ("cost_usd", "requests", "tokens") if k in df.columns]
        if numeric:
            left.bar_chart(df.set_index(label)[numeric[0]], horizontal=True)
        right.dataframe(df, hide_index=True)

    st.subheader("Routing distribution")
    routing = pick(m, "routing", "routing_distribution") or {}
    r1, r2 = st.columns(2)
    for col, name, keys in ((r1, "model", ("by_model", "models")), (r2, "rule", ("by_rule", "rules"))):
        df = frame(pick(routing, *keys), index_name=name, value_name="count")
        with col:
            st.caption(f"By {name}")
            if df.empty:
                st.caption("No routed requests yet.")
            else:
                value = "count" if "count" in df.columns else df.columns[-1]
                st.altair_chart(
                    alt.Chart(df)
                    .mark_arc(innerRadius=40)
                    .encode(theta=f"{value}:Q", color=f"{df.columns[0]}:N", tooltip=list(df.columns)),
                    width="stretch",
                )

    st.subheader("Errors by provider and hour")
    errors = frame(pick(m, "errors_by_provider_hour", "error_heatmap"), index_name="provider")
    if errors.empty and {"provider", "errors"} <= set(series.columns):
        errors = series[series["errors"] > 0][["provider", x, "errors"]].rename(columns={x: "hour"})
        errors["hour"] = errors["hour"].dt.strftime("%m-%d %H:00")
    if errors.empty or not {"provider", "hour"} <= set(errors.columns):
        st.caption("No errors in this period.")
    else:
        value = "count" if "count" in errors.columns else errors.columns[-1]
        st.altair_chart(
            alt.Chart(errors)
            .mark_rect()
            .encode(
                x=alt.X("hour:O", title="hour"),
                y=alt.Y("provider:N", title=None),
                color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="reds"), title="errors"),
                tooltip=list(errors.columns),
            ),
            width="stretch",
        )
