"""Admin · Tenants: create tenants, set their rate limits and budgets, create and revoke API keys.

The gateway enforces the roles: a tenant admin sees and changes its own tenant, a global admin every
tenant (and only a global admin creates tenants). A member sees a notice instead of this page.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from nexus.ui import common
from nexus.ui.admin import require_admin
from nexus.ui.tables import items_of, scalars

c = common.page("Tenants", "🏢")
tenants = require_admin(c)

st.dataframe(pd.DataFrame([scalars(t) for t in tenants]), hide_index=True, key="tenants_table")

with st.expander("Create a tenant", expanded=not tenants):
    with st.form("create_tenant", clear_on_submit=True):
        new_id = st.text_input("Tenant id", placeholder="letters, digits, . _ -")
        new_name = st.text_input("Name")
        rpm_col, tpm_col = st.columns(2)
        new_rpm = rpm_col.number_input("Requests per minute (0 = default)", min_value=0, value=0)
        new_tpm = tpm_col.number_input("Tokens per minute (0 = default)", min_value=0, value=0)
        if st.form_submit_button("Create tenant") and new_id.strip():
            made = common.call(c.create_tenant, new_id.strip(), new_name.strip(), rpm=new_rpm, tpm=new_tpm)
            if made is not None:
                st.session_state["admin_flash"] = f"Tenant {new_id.strip()} created."
                st.rerun()

if st.session_state.get("admin_flash"):
    st.success(st.session_state.pop("admin_flash"))

ids = [str(t["id"]) for t in tenants]
if not ids:
    st.stop()
chosen = st.selectbox("Tenant", ids, key="admin_tenant")
current = next(t for t in tenants if str(t["id"]) == chosen)
limits_tab, budgets_tab, keys_tab = st.tabs(["Rate limits", "Budgets", "API keys"])

with limits_tab, st.form("limits"):
    a, b = st.columns(2)
    rpm = a.number_input("Requests per minute (0 = default)", min_value=0, value=int(current.get("rpm") or 0))
    tpm = b.number_input("Tokens per minute (0 = default)", min_value=0, value=int(current.get("tpm") or 0))
    disabled = st.checkbox("Disabled", value=bool(current.get("disabled")))
    if st.form_submit_button("Save limits"):
        if common.call(c.update_tenant, chosen, rpm=int(rpm), tpm=int(tpm), disabled=disabled) is not None:
            st.session_state["admin_flash"] = f"Limits of {chosen} saved."
            st.rerun()

with budgets_tab:
    budgets = items_of(common.call(c.budgets, chosen), "budgets")
    if budgets:
        st.dataframe(pd.DataFrame([scalars(b) for b in budgets]), hide_index=True, key="budgets_table")
    else:
        st.caption("No budgets for this tenant.")
    with st.form("budget"):
        p, m, lim, hard = st.columns(4)
        period = p.selectbox("Period", ["day", "month"])
        metric = m.selectbox("Metric", ["tokens", "cost"])
        limit = lim.number_input("Limit (tokens or USD)", min_value=0.0, value=100000.0)
        is_hard = hard.checkbox("Hard (refuse when used up)", value=True)
        if st.form_submit_button("Set budget") and limit > 0:
            body = {"period": period, "metric": metric, "limit": limit, "hard": is_hard}
            if common.call(c.set_budget, chosen, **body) is not None:
                st.rerun()
    if budgets:
        gone = st.selectbox("Remove budget", [b["id"] for b in budgets], key="budget_remove")
        if st.button("Remove this budget"):
            if common.call(c.delete_budget, chosen, int(gone)) is not None:
                st.rerun()

with keys_tab:
    keys = [k for k in items_of(common.call(c.keys), "keys") if k.get("tenant") == chosen]
    if keys:
        st.dataframe(pd.DataFrame([scalars(k) for k in keys]), hide_index=True, key="keys_table")
    else:
        st.caption("No API keys for this tenant.")
    with st.form("create_key", clear_on_submit=True):
        n, r = st.columns(2)
        key_name = n.text_input("Key name")
        role = r.selectbox("Role", ["member", "admin", "global_admin"])
        key_budget = st.text_input("Budget (optional)", placeholder="e.g. 5/day or 200000tok/month")
        if st.form_submit_button("Create key"):
            made = common.call(
                c.create_key, name=key_name, role=role, tenant=chosen, budget=key_budget.strip() or None
            )
            if isinstance(made, dict):
                st.session_state["new_key"] = made
    made_key = st.session_state.pop("new_key", None)
    if made_key:
        st.success(
            f"Key {made_key['id']} created for {made_key['tenant']}. Store it now: it is not shown again."
        )
        st.code(made_key["key"], language=None)
    live = [k["id"] for k in keys if not k.get("revoked_at")]
    if live:
        victim = st.selectbox("Revoke key", live, key="key_revoke")
        if st.button("Revoke this key"):
            if common.call(c.revoke_key, victim) is not None:
                st.rerun()
