"""The routing charts shared by the Chat and Models pages."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

MEASURES = {"vote": "KNN vote", "predicted_quality": "predicted quality", "utility": "utility"}


def score_frame(decision: dict[str, Any]) -> pd.DataFrame:
    scores = (decision.get("explanation") or {}).get("scores") or []
    rows = [
        {"model": s.get("model", "?"), "measure": label, "value": float(s[key])}
        for s in scores
        if isinstance(s, dict)
        for key, label in MEASURES.items()
        if isinstance(s.get(key), int | float)
    ]
    return pd.DataFrame(rows, columns=["model", "measure", "value"])


def vote_chart(decision: dict[str, Any], *, key: str | None = None) -> bool:
    """Grouped bars per model: KNN vote share, predicted quality, utility. False when no scores."""
    df = score_frame(decision)
    if df.empty:
        st.caption("No per-model scores in this decision.")
        return False
    chosen = decision.get("model")
    chart = (
        alt.Chart(df, title="Routing: votes and predicted scores per model")
        .mark_bar()
        .encode(
            x=alt.X("model:N", title=None, axis=alt.Axis(labelAngle=0)),
            xOffset="measure:N",
            y=alt.Y("value:Q", title=None),
            color=alt.Color("measure:N", legend=alt.Legend(orient="bottom", title=None)),
            opacity=alt.condition(alt.datum.model == chosen, alt.value(1.0), alt.value(0.5)),
            tooltip=["model", "measure", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch", key=key)
    return True


def explanation_details(decision: dict[str, Any]) -> None:
    """The full explanation: rule, reason, classification, neighbours, score table."""
    exp = decision.get("explanation") or {}
    cols = st.columns(3)
    cols[0].metric("Chosen model", str(decision.get("model", "—")))
    cols[1].metric("Rule", str(exp.get("rule") or "—"))
    elapsed = exp.get("elapsed_ms")
    cols[2].metric("Routing time", f"{float(elapsed):.1f} ms" if isinstance(elapsed, int | float) else "—")
    if exp.get("reason"):
        st.write(exp["reason"])
    if exp.get("fallback"):
        st.warning(f"Fallback: {exp['fallback']}")
    if exp.get("classification"):
        st.caption("Classification")
        st.json(exp["classification"], expanded=False)
    if exp.get("neighbours"):
        st.caption("Nearest prototypes")
        st.dataframe(pd.DataFrame(exp["neighbours"]), hide_index=True)
    if exp.get("scores"):
        st.caption("Scores per model")
        st.dataframe(pd.DataFrame(exp["scores"]), hide_index=True)
