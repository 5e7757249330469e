"""What every page shares: the connection (gateway URL + API key), the gateway-down banner, and the
one place API errors become readable messages."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from nexus.ui.client import ApiError, ClientError, GatewayDown, NexusClient, default_api_url

T = TypeVar("T")

# The slowest a page may refresh anything on its own; the issue forbids polling faster than 2 s.
POLL_INTERVAL_S = 5
API_KEY_ENV = "NEXUS_UI_API_KEY"


def client() -> NexusClient:
    """The client for this browser session: URL from the environment, key from the sidebar."""
    st.session_state.setdefault("api_key", os.environ.get(API_KEY_ENV, ""))
    return NexusClient(default_api_url(), st.session_state["api_key"] or None)


def _key_box() -> None:
    with st.sidebar.expander("API key", expanded=bool(st.session_state.get("needs_key"))):
        key = st.text_input(
            "Bearer key for this gateway",
            value=st.session_state.get("api_key", ""),
            type="password",
            key="api_key_input",
            help="Needed when the gateway runs with auth on; you see only your tenant's data.",
        )
        if key != st.session_state.get("api_key", ""):
            st.session_state["api_key"] = key
            st.session_state["needs_key"] = False
            st.rerun()


@st.fragment(run_every=POLL_INTERVAL_S)
def _banner() -> None:
    """Shows a banner while the gateway is down and reruns the page once it is back."""
    was_down = bool(st.session_state.get("gateway_down"))
    try:
        client().health()
        down = False
    except GatewayDown as exc:
        down = True
        st.error(f"**Gateway unreachable.** {exc} Retrying every {POLL_INTERVAL_S} s…", icon="🔌")
    except ApiError:
        down = False  # it answers: auth or other errors are shown where they happen
    st.session_state["gateway_down"] = down
    if was_down and not down:
        st.rerun(scope="app")


def page(title: str, icon: str) -> NexusClient:
    """Page preamble: title, sidebar connection info, key box, health banner."""
    st.title(f"{icon} {title}")
    c = client()
    st.sidebar.caption(f"Gateway: `{c.base_url}`")
    _key_box()
    _banner()
    return c


def show_error(exc: ClientError) -> None:
    if isinstance(exc, ApiError) and exc.needs_key:
        st.session_state["needs_key"] = True
        st.warning(
            "This gateway requires an API key. Enter it under **API key** in the sidebar.",
            icon="🔑",
        )
    elif isinstance(exc, GatewayDown):
        st.error(str(exc), icon="🔌")
    else:
        st.error(f"The gateway refused the request: {exc}", icon="⚠️")


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run an API call; on failure show a readable message and return None."""
    try:
        return fn(*args, **kwargs)
    except ClientError as exc:
        show_error(exc)
        return None


def fmt_cost(usd: Any) -> str:
    try:
        v = float(usd)
    except (TypeError, ValueError):
        return "—"
    return f"${v:.4f}" if v < 1 else f"${v:,.2f}"


def fmt_ms(ms: Any) -> str:
    try:
        v = float(ms)
    except (TypeError, ValueError):
        return "—"
    return f"{v:.0f} ms" if v < 1000 else f"{v / 1000:.2f} s"
