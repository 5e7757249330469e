"""The Nexus UI entry point: `streamlit run src/nexus/ui/app.py` (started for you by `nexus serve`).

Pages are plain scripts under views/ (not pages/, which Streamlit would also list on its own); each calls `common.page(...)` so it also runs alone (tests).
The gateway URL comes from NEXUS_API_URL; the API key, when auth is on, from the sidebar.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"

st.set_page_config(page_title="Nexus", page_icon="🧭", layout="wide")
nav = st.navigation(
    [
        st.Page(VIEWS / "chat.py", title="Chat", icon="💬", default=True),
        st.Page(VIEWS / "work_orders.py", title="Work orders", icon="📋", url_path="work-orders"),
        st.Page(VIEWS / "metrics.py", title="Metrics", icon="📈", url_path="metrics"),
        st.Page(VIEWS / "models.py", title="Models & routing", icon="🧭", url_path="models"),
        st.Page(VIEWS / "agents.py", title="Agents", icon="🤝", url_path="agents"),
        st.Page(VIEWS / "voice.py", title="Voice", icon="🎙️", url_path="voice"),
        st.Page(VIEWS / "documents.py", title="Documents", icon="📚", url_path="documents"),
        st.Page(VIEWS / "faq.py", title="FAQ", icon="❓", url_path="faq"),
        st.Page(VIEWS / "leads.py", title="Smart agent", icon="🧲", url_path="smart-agent"),
        st.Page(VIEWS / "compare.py", title="Compare", icon="⚖️", url_path="compare"),
        st.Page(VIEWS / "admin_tenants.py", title="Admin · Tenants", icon="🏢", url_path="admin-tenants"),
        st.Page(
            VIEWS / "admin_health.py", title="Admin · Service health", icon="🩺", url_path="admin-health"
        ),
        st.Page(VIEWS / "admin_audit.py", title="Admin · Audit log", icon="🧾", url_path="admin-audit"),
    ]
)
nav.run()
