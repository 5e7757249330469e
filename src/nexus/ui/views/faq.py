"""FAQ: upload a document, follow its extraction job, review the question–answer pairs."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from nexus.ui import common

c = common.page("FAQ", "❓")

st.caption("Upload a text, Markdown or PDF document: its FAQs are extracted by a background job.")
up = st.file_uploader("Document", type=["txt", "md", "markdown", "pdf"], key="faq_file")
if up is not None and st.button("Extract FAQs", key="faq_extract"):
    files = {"file": (up.name, up.getvalue(), up.type or "application/octet-stream")}
    doc: Any = common.call(c.request, "POST", "/api/faqs/extract", files=files)
    if isinstance(doc, dict):
        # A keyed widget keeps its own state across reruns (its `value=` is read once): the new id goes
        # into that state, before the widget is drawn in this run.
        st.session_state["faq_doc_id"] = doc["id"]

doc_id = st.text_input("Document id", key="faq_doc_id")
if doc_id:
    doc = common.call(c.get, f"/api/faqs/documents/{doc_id}")
    if isinstance(doc, dict):
        done, total = doc["progress"]["done"], doc["progress"]["total"]
        st.markdown(f"**Status:** {doc['status']} · chunks {done}/{total or '?'}")
        st.progress(done / total if total else 0.0)
        if doc.get("error"):
            st.error(doc["error"])
        if doc["status"] in ("queued", "running"):
            st.button("Refresh", key="faq_refresh")
        pairs = doc.get("pairs") or []
        st.markdown(f"**{len(pairs)} pairs**")
        if pairs:
            st.dataframe(
                pd.DataFrame([{k: p[k] for k in ("id", "question", "answer", "source")} for p in pairs]),
                hide_index=True,
                key="faq_pairs",
            )
