"""Chat: the answer streams in; the sidebar fills with each pipeline event as it happens.

The session id lives in the URL (?session=…), so a reload rebuilds the history from GET /trace.
Each run opens exactly one SSE stream (POST /chat or POST /resume); nothing here polls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import streamlit as st

from nexus.ui import charts, common
from nexus.ui.client import ApiError, ClientError, NexusClient, SseEvent
from nexus.ui.events import QUIET, Turn, event_line, first_timestamp, history_from_trace

c = common.page("Chat", "💬")


def _history() -> list[Turn]:
    sid = st.query_params.get("session")
    if sid and st.session_state.get("history_sid") != sid:
        try:
            trace = c.trace(sid)
        except ClientError as exc:
            if isinstance(exc, ApiError) and exc.status == 404:
                st.info("That conversation is not known to this gateway; starting a new one.")
            else:
                common.show_error(exc)
            trace = None
        st.session_state["history"] = history_from_trace(trace) if trace is not None else []
        st.session_state["history_sid"] = sid
    history: list[Turn] = st.session_state.setdefault("history", [])
    return history


def _badges(turn: Turn) -> None:
    f = turn.final
    if not f:
        return
    models = f.get("models") or []
    tokens = f.get("tokens")
    if isinstance(tokens, dict):
        tokens = (
            tokens.get("total")
            or tokens.get("total_tokens")
            or sum(v for v in tokens.values() if isinstance(v, int))
        )
    parts = [f":violet-badge[🤖 {m}]" for m in (models if isinstance(models, list) else [models])]
    parts += [
        f":blue-badge[🔢 {tokens if tokens is not None else '—'} tokens]",
        f":green-badge[💲 {common.fmt_cost(f.get('cost_usd'))}]",
        f":orange-badge[⏱️ {common.fmt_ms(f.get('latency_ms'))}]",
    ]
    st.markdown(" ".join(parts))


def _render_turn(turn: Turn, i: int) -> None:
    if turn.user:
        with st.chat_message("user"):
            st.markdown(turn.user)
    with st.chat_message("assistant"):
        if turn.answer:
            st.markdown(turn.answer)
        if turn.question:
            st.info(f"**The assistant asks:** {turn.question}", icon="❓")
        if turn.error:
            st.error(turn.error)
        _badges(turn)
        _thumbs(turn)
        if turn.decision:
            with st.expander("Routing decision", expanded=i == len(history) - 1):
                charts.vote_chart(turn.decision, key=f"votes-{i}")
                charts.explanation_details(turn.decision)


def _thumbs(turn: Turn) -> None:
    """Thumbs up/down on an answer: sent once per change to POST /api/feedback."""
    started = [e for e in turn.events if e.get("type") == "started"]
    wo = (started[0].get("data") or {}).get("work_order_id") if started else None
    if not wo or not turn.final:
        return
    rating = st.feedback("thumbs", key=f"thumbs-{wo}")
    sent: dict[str, int] = st.session_state.setdefault("rated", {})
    if rating is not None and sent.get(wo) != rating:
        try:
            c.feedback(str(wo), "up" if rating == 1 else "down")
            sent[wo] = rating
            st.toast("Thanks: your rating teaches this tenant's router (after a retrain).")
        except ClientError as exc:
            common.show_error(exc)


def _sidebar_events(turn: Turn | None) -> None:
    st.sidebar.subheader("Pipeline events")
    if turn is None:
        st.sidebar.caption("Send a message to see the pipeline at work.")
        return
    t0 = first_timestamp(turn.events)
    for e in turn.events:
        if e.get("type") not in QUIET:
            st.sidebar.markdown(event_line(e, t0))


def _run(turn: Turn, stream: Iterator[SseEvent]) -> None:
    """Consume one run's stream: tokens into the answer, other events into the sidebar, live."""
    history.append(turn)
    with st.chat_message("user"):
        st.markdown(turn.user)
    st.sidebar.subheader("Pipeline events")
    sidebar = st.sidebar.container()
    with st.chat_message("assistant"):
        answer = st.empty()
        t0: float | None = None
        try:
            for ev in stream:
                payload: dict[str, Any] = {"type": ev.type, **ev.payload}
                turn.add(payload)
                sid = payload.get("session_id")
                if sid and st.query_params.get("session") != sid:
                    st.query_params["session"] = sid
                    st.session_state["history_sid"] = sid
                if ev.type == "token":
                    answer.markdown(turn.answer + "▌")
                    continue
                if t0 is None:
                    t0 = first_timestamp([payload])
                sidebar.markdown(event_line(payload, t0))
                if ev.type == "final":
                    answer.markdown(turn.answer)
        except ClientError as exc:
            turn.error = str(exc)
            common.show_error(exc)
    st.rerun()


history = _history()
for i, turn in enumerate(history):
    _render_turn(turn, i)

pending = history[-1].question if history and not history[-1].final and not history[-1].error else None
client: NexusClient = c
sid = st.query_params.get("session")

if pending and sid:
    with st.form("reply", clear_on_submit=True):
        reply = st.text_input("Your reply", key="reply_text", placeholder="Answer the question to continue")
        if st.form_submit_button("Reply and resume") and reply.strip():
            _run(Turn(user=reply.strip()), client.resume(sid, reply.strip()))

prompt = st.chat_input("Ask anything")
if prompt:
    _run(Turn(user=prompt), client.chat(prompt, sid))

_sidebar_events(history[-1] if history else None)
if history and st.sidebar.button("New conversation"):
    st.query_params.clear()
    st.session_state["history"] = []
    st.session_state["history_sid"] = None
    st.rerun()
