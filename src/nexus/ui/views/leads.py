"""Smart agent: create one from FAQ pairs, chat with it as a customer, and watch the leads table fill."""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import streamlit as st

from nexus.ui import common

c = common.page("Smart agent", "🧲")

with st.expander("Create an agent", expanded=False):
    name = st.text_input("Name", key="sa_name")
    prompt = st.text_area("System prompt", key="sa_prompt")
    faq_text = st.text_area("FAQs: one per line, 'question | answer'", key="sa_faqs")
    if st.button("Create", key="sa_create") and name:
        faqs = [
            {"question": q.strip(), "answer": a.strip()}
            for q, _, a in (line.partition("|") for line in faq_text.splitlines())
            if q.strip() and a.strip()
        ]
        made: Any = common.call(
            c.request, "POST", "/api/smart-agents", json={"name": name, "system_prompt": prompt, "faqs": faqs}
        )
        if isinstance(made, dict):
            st.session_state["sa_agent"] = made["id"]
            st.success(f"Agent {made['name']} created with {len(made.get('faqs') or [])} FAQs.")

agents: Any = common.call(c.get, "/api/smart-agents")
options = [a["id"] for a in (agents or {}).get("data", [])]
labels = {a["id"]: a["name"] for a in (agents or {}).get("data", [])}
chosen = (
    st.selectbox(
        "Agent",
        options,
        index=options.index(st.session_state["sa_agent"])
        if st.session_state.get("sa_agent") in options
        else 0,
        format_func=lambda i: labels.get(i, i),
        key="sa_choice",
    )
    if options
    else None
)

if chosen:
    st.session_state.setdefault("sa_session", "ui-" + uuid.uuid4().hex[:8])
    history = st.session_state.setdefault("sa_history", [])
    for turn in history:
        st.chat_message(turn["role"]).markdown(turn["text"])
    message = st.chat_input("Write as a customer", key="sa_input")
    if message:
        body = {"session_id": st.session_state["sa_session"], "message": message}
        reply: Any = common.call(c.request, "POST", f"/api/smart-agents/{chosen}/chat", json=body)
        if isinstance(reply, dict):
            cites = ", ".join(reply["citations"]) or "none"
            history += [
                {"role": "user", "text": message},
                {"role": "assistant", "text": f"{reply['answer']}\n\n*Citations: {cites}*"},
            ]
            st.rerun()

st.subheader("Leads")
leads: Any = common.call(c.get, "/api/leads")
rows = (leads or {}).get("data", [])
if rows:
    cols = ["name", "email", "phone", "company", "intent", "messages", "session_id", "updated_at"]
    st.dataframe(pd.DataFrame([{k: r.get(k) for k in cols} for r in rows]), hide_index=True, key="sa_leads")
else:
    st.info("No leads yet: chat with an agent, mentioning a name, an e-mail or a phone number.")
