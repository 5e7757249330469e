"""Documents: vector stores, uploads with their ingestion status, a search playground, and grounded
answers whose cited passages are highlighted. Talks to the gateway's OpenAI Files / Vector Stores API and
/rag-chat only (docs/rag.md)."""

from __future__ import annotations

import re
import time
from typing import Any

import pandas as pd
import streamlit as st

from nexus.ui import common
from nexus.ui.client import ClientError, NexusClient

c = common.page("Documents", "📚")
WAIT_S = 120.0  # how long the page follows an upload's ingestion before leaving it to the table


def highlight(text: str, quote: str) -> str:
    """The passage with the cited sentence marked (Streamlit markdown)."""
    safe = text.replace("[", "\\[").replace("]", "\\]")
    q = quote.replace("[", "\\[").replace("]", "\\]")
    if q and q in safe:
        return safe.replace(q, f":orange-background[{q}]", 1)
    return safe


def bold_terms(text: str, query: str) -> str:
    terms = sorted({t for t in re.findall(r"\w{3,}", query.lower())}, key=len, reverse=True)
    if not terms:
        return text
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
    return pattern.sub(lambda m: f"**{m.group(0)}**", text.replace("*", "\\*"))


def follow(client: NexusClient, store_id: str, file_id: str, name: str) -> None:
    """Poll one file's ingestion (every half second, bounded) with a progress bar."""
    bar = st.progress(0.0, text=f"{name}: ingesting")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        f = client.get(f"/v1/vector_stores/{store_id}/files/{file_id}")
        if f["status"] != "in_progress":
            if f["status"] == "completed":
                bar.progress(1.0, text=f"{name}: ready")
            else:
                bar.empty()
                st.error(f"{name}: {(f.get('last_error') or {}).get('message', 'failed')}")
            return
        bar.progress(0.5, text=f"{name}: ingesting")
        time.sleep(0.5)
    bar.progress(0.5, text=f"{name}: still ingesting — see the table")


stores_page: Any = common.call(c.get, "/v1/vector_stores", limit=100)
stores = list((stores_page or {}).get("data") or [])

with st.expander("New vector store", expanded=not stores):
    with st.form("new_store", clear_on_submit=True):
        name = st.text_input("Name", key="doc_new_name")
        if st.form_submit_button("Create") and name.strip():
            made = common.call(c.request, "POST", "/v1/vector_stores", json={"name": name.strip()})
            if made:
                st.session_state["doc_store"] = made["id"]
                st.rerun()

if not stores:
    st.info("No vector stores yet: create one, then upload documents into it.")
    st.stop()

labels = {s["id"]: f"{s['name'] or '(unnamed)'} · {s['id']}" for s in stores}
ids = list(labels)
current = st.session_state.get("doc_store")
store_id = st.selectbox(
    "Vector store",
    ids,
    index=ids.index(current) if current in ids else 0,
    format_func=lambda i: labels[i],
    key="doc_store_select",
)
store = next(s for s in stores if s["id"] == store_id)
counts = store.get("file_counts") or {}
m1, m2, m3, m4 = st.columns(4)
m1.metric("Files", counts.get("total", 0))
m2.metric("Ready", counts.get("completed", 0))
m3.metric("Ingesting", counts.get("in_progress", 0))
m4.metric("Failed", counts.get("failed", 0))

uploaded = st.file_uploader(
    "Upload documents (PDF, DOCX, HTML, Markdown, text)", accept_multiple_files=True, key="doc_upload"
)
if uploaded and st.button("Add to this store", key="doc_add"):
    for item in uploaded:
        try:
            up = c.request(
                "POST",
                "/v1/files",
                files={"file": (item.name, item.getvalue())},
                data={"purpose": "assistants"},
            )
            c.request("POST", f"/v1/vector_stores/{store_id}/files", json={"file_id": up["id"]})
            follow(c, store_id, up["id"], item.name)
        except ClientError as exc:
            st.error(f"{item.name}: {exc}")

files_page: Any = common.call(c.get, f"/v1/vector_stores/{store_id}/files", limit=100)
names = {u["id"]: u["filename"] for u in ((common.call(c.get, "/v1/files") or {}).get("data") or [])}
rows = [
    {
        "file": names.get(f["id"], f["id"]),
        "id": f["id"],
        "status": f["status"],
        "bytes": f["usage_bytes"],
        "error": (f.get("last_error") or {}).get("message", ""),
    }
    for f in (files_page or {}).get("data") or []
]
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="doc_files")
    gone = st.selectbox(
        "Remove a file from this store", [""] + [r["id"] for r in rows], key="doc_remove_choice"
    )
    if gone and st.button("Remove", key="doc_remove"):
        if common.call(c.request, "DELETE", f"/v1/vector_stores/{store_id}/files/{gone}") is not None:
            st.rerun()

search_tab, ask_tab = st.tabs(["Search", "Ask"])
with search_tab:
    query = st.text_input("Search the store", key="doc_query")
    if query.strip():
        found: Any = common.call(
            c.request,
            "POST",
            f"/v1/vector_stores/{store_id}/search",
            json={"query": query, "max_num_results": 8},
        )
        for hit in (found or {}).get("data") or []:
            attrs = hit.get("attributes") or {}
            where = " · ".join(str(x) for x in (attrs.get("section"), attrs.get("page")) if x)
            st.markdown(f"**{hit['filename']}** {where} — score {hit['score']:.3f}")
            st.markdown(bold_terms(hit["content"][0]["text"], query))
with ask_tab:
    question = st.text_input("Ask a question answered from these documents", key="doc_question")
    if question.strip() and st.button("Ask", key="doc_ask"):
        passages: dict[int, dict[str, Any]] = {}
        final: dict[str, Any] = {}
        try:
            body = {"question": question, "vector_store_ids": [store_id]}
            for event in c.stream("/rag-chat", body):
                if event.type == "compressed":
                    passages = {p["n"]: p for p in event.payload.get("passages", [])}
                elif event.type == "final":
                    final = event.payload
                elif event.type == "error":
                    st.error(event.payload.get("message", "failed"))
        except ClientError as exc:
            common.show_error(exc)
        if final:
            st.markdown(final.get("answer", ""))
            for cite in final.get("citations") or []:
                p = passages.get(cite["n"])
                st.markdown(
                    f"**[{cite['n']}] {cite['filename']}**"
                    + (f", page {cite['page']}" if cite.get("page") else "")
                )
                st.markdown(highlight(p["text"] if p else cite["quote"], cite["quote"]))
            for claim in final.get("unsupported") or []:
                st.warning(f"Not supported by the documents: {claim}")
