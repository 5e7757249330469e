"""Models & routing: the catalogue, a routing playground (decision + explanation, no generation) and
prototype editing per model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from nexus.ui import charts, common
from nexus.ui.tables import items_of, scalars

c = common.page("Models & routing", "🧭")

catalogue: Any = common.call(c.models)
models = items_of(catalogue, "models")
if catalogue is not None:
    st.subheader("Catalogue")
    if models:
        # Prototype texts are long: the table shows counts, the section below shows the texts.
        rows = [
            scalars({k: v for k, v in mdl.items() if not isinstance(v, list) or k != "prototypes"})
            for mdl in models
        ]
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            column_config={"available": st.column_config.CheckboxColumn("available")},
            key="catalogue_table",
        )
    else:
        st.info("The gateway lists no models.")

st.subheader("Routing playground")
st.caption("See where a query would go and why — nothing is generated and nothing is billed.")
with st.form("route"):
    query = st.text_area(
        "Query", key="route_query", placeholder="e.g. Write a Python function that merges two sorted lists"
    )
    submitted = st.form_submit_button("Route it")
if submitted and query.strip():
    decision = common.call(c.route, query.strip())
    if isinstance(decision, dict):
        st.session_state["route_decision"] = decision.get("decision", decision)
decision = st.session_state.get("route_decision")
if isinstance(decision, dict):
    charts.vote_chart(decision, key="route_votes")
    charts.explanation_details(decision)

st.subheader("Prototypes")
ids = [str(mdl.get("id")) for mdl in models if mdl.get("id")]
if ids:
    model_id = st.selectbox("Model", ids, key="proto_model")
    current = next((mdl for mdl in models if str(mdl.get("id")) == model_id), {})
    listed: Any = common.call(c.prototypes, model_id)
    protos = listed.get("prototypes") if isinstance(listed, dict) else current.get("prototypes")
    count = (
        len(protos) if isinstance(protos, list) else current.get("prototype_count", current.get("prototypes"))
    )
    st.caption(f"{count if count is not None else 'unknown number of'} prototypes for `{model_id}`")
    if isinstance(protos, list) and protos:
        st.dataframe(pd.DataFrame({"prototype": [str(p) for p in protos]}), hide_index=True)
    with st.form("prototype", clear_on_submit=True):
        text = st.text_input(
            "Prototype text", key="proto_text", placeholder="A typical request this model serves well"
        )
        add_col, remove_col = st.columns(2)
        add = add_col.form_submit_button("Add prototype")
        remove = remove_col.form_submit_button("Remove prototype")
    action = c.add_prototype if add else c.remove_prototype if remove else None
    if action is not None and text.strip():
        done = common.call(action, model_id, text.strip())
        if done is not None:
            st.success(f"{'Added to' if add else 'Removed from'} {model_id}: “{text.strip()}”")
