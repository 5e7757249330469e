"""Compare: one prompt on two models side by side, each bounded by a timeout."""

from __future__ import annotations

from typing import Any

import streamlit as st

from nexus.ui import common

c = common.page("Compare", "⚖️")

models: Any = common.call(c.get, "/v1/models")
ids = [m["id"] for m in (models or {}).get("data", [])]
left, right = st.columns(2)
a = left.selectbox("Model A", ids, index=0 if ids else None, key="cmp_a")
b = right.selectbox("Model B", ids, index=min(1, len(ids) - 1) if ids else None, key="cmp_b")
prompt = st.text_area("Prompt", key="cmp_prompt")
timeout = st.number_input("Timeout (s)", min_value=1.0, max_value=300.0, value=30.0, key="cmp_timeout")
if st.button("Compare", key="cmp_go") and prompt and a and b:
    body = {"prompt": prompt, "models": [a, b], "timeout_s": timeout}
    out: Any = common.call(c.request, "POST", "/api/compare", json=body)
    if isinstance(out, dict):
        for col, side in zip(st.columns(2), out["results"], strict=True):
            col.markdown(
                f"**{side['model']}** · {common.fmt_ms(side['latency_ms'])} · {common.fmt_cost(side['cost_usd'])}"
            )
            if side["timed_out"]:
                col.warning(f"Timed out after {timeout:g} s")
            elif side["error"]:
                col.error(side["error"])
            else:
                col.markdown(side["answer"] or "")
