"""Admin · Audit log: who did what, filtered by actor, action and time; exported as CSV."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from nexus.ui import common
from nexus.ui.admin import SINCE, require_admin, since_iso
from nexus.ui.tables import items_of, scalars

c = common.page("Audit log", "🧾")
require_admin(c)

a, b, t, n = st.columns([1, 1, 1, 1])
actor = a.text_input("Actor", key="audit_actor", placeholder="any")
action = b.text_input("Action", key="audit_action", placeholder="e.g. key.create")
since_label = t.selectbox("Time", list(SINCE), key="audit_since")
limit = n.number_input("Limit", min_value=10, max_value=1000, value=200, step=10, key="audit_limit")
filters: dict[str, Any] = {
    "actor": actor.strip(),
    "action": action.strip(),
    "since": since_iso(since_label),
    "limit": int(limit),
}

data = common.call(c.audit, **filters)
rows = items_of(data, "audit")
if data is not None:
    if not rows:
        st.info("No audit entries match these filters.")
    else:
        st.caption(f"{len(rows)} entries")
        st.dataframe(pd.DataFrame([scalars(r) for r in rows]), hide_index=True, key="audit_table")
        csv_text = common.call(c.audit_csv, **filters)
        if csv_text is not None:
            st.download_button("Export CSV", csv_text, file_name="nexus-audit.csv", mime="text/csv")
