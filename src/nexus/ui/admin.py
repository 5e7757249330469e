"""What the admin pages share: the role check (a member sees a notice, nothing else) and time filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from nexus.ui import common
from nexus.ui.client import ApiError, ClientError, NexusClient

MEMBERS_NOTICE = (
    "The admin console is for admins. This API key belongs to a member: ask an admin of your team "
    "for an admin key, or use the other pages."
)
SINCE = {
    "any time": None,
    "last hour": timedelta(hours=1),
    "last 24 h": timedelta(days=1),
    "last 7 days": timedelta(days=7),
}


def require_admin(c: NexusClient) -> list[dict[str, Any]]:
    """The tenants the caller administers; stops the page (with a notice) for anyone else."""
    try:
        data = c.tenants()
    except ApiError as exc:
        if exc.status == 403:
            st.warning(MEMBERS_NOTICE, icon="🔒")
        else:
            common.show_error(exc)
        st.stop()
    except ClientError as exc:
        common.show_error(exc)
        st.stop()
    rows = data.get("data") if isinstance(data, dict) else None
    return [r for r in rows or [] if isinstance(r, dict)]


def since_iso(label: str) -> str | None:
    delta = SINCE.get(label)
    return (datetime.now(UTC) - delta).isoformat() if delta else None
