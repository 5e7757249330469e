"""Every page of the UI, run by Streamlit's AppTest against a real gateway in demo mode.

The tests run in file order: the chat tests make the runs that the work-order and metrics pages
must then show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from streamlit.testing.v1 import AppTest

from nexus.ui import client as ui_client

from .conftest import Gateway

PAGES = Path(__file__).resolve().parents[2] / "src" / "nexus" / "ui" / "views"
QUESTION = "Write a Python function that returns the sum of two integers."
# A request too vague to answer: the demo pipeline stops to ask a clarifying question.
VAGUE = "Fix it"

made: dict[str, Any] = {"sessions": [], "answers": []}


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=90)


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def sidebar_events(at: AppTest) -> list[str]:
    """Event types in the order the sidebar lists them (each line carries **type**)."""
    out = []
    for m in at.sidebar.markdown:
        parts = m.value.split("**")
        if len(parts) >= 3:
            out.append(parts[1])
    return out


def trace_events(gw: Gateway, sid: str, *, last_run: bool = False) -> list[dict[str, Any]]:
    """The session's events in the gateway's order; with last_run, only those since the last `started`."""
    body = httpx.get(f"{gw.url}/trace/{sid}", timeout=10).json()
    events: list[dict[str, Any]] = body["events"] if isinstance(body, dict) else body
    if last_run:
        start = max(i for i, e in enumerate(events) if e["type"] == "started")
        events = events[start:]
    return events


def final_answer(events: list[dict[str, Any]]) -> str:
    return next(str(e["data"]["answer"]) for e in reversed(events) if e["type"] == "final")


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_chat_streams_answer_and_events_in_order(ui_env: Gateway) -> None:
    at = page("chat")
    at.run()
    assert_clean(at)
    opened = ui_client.streams_opened
    at.chat_input[0].set_value(QUESTION).run()
    assert_clean(at)
    assert ui_client.streams_opened == opened + 1  # one SSE stream for the run, nothing else

    sid = (
        at.query_params["session"][0]
        if isinstance(at.query_params["session"], list)
        else at.query_params["session"]
    )
    events = trace_events(ui_env, sid)
    answer = final_answer(events)
    assert answer and any(answer in t for t in texts(at))
    assert any(QUESTION in t for t in texts(at))
    # The sidebar lists the run's events, tokens aside, in the order the gateway emitted them.
    expected = [e["type"] for e in events if e["type"] != "token"]
    assert sidebar_events(at) == expected
    assert expected[0] == "started" and "routed" in expected and "final" in expected
    # The routing decision is charted: the KNN votes and predicted scores per model.
    assert at.get("vega_lite_chart"), "no vote chart"
    assert any("badge[" in t and "tokens" in t for t in texts(at))
    made["sessions"].append(sid)
    made["answers"].append(answer)


def test_history_survives_reload(ui_env: Gateway) -> None:
    sid = made["sessions"][0]
    at = page("chat")
    at.query_params["session"] = sid
    at.run()
    assert_clean(at)
    assert any(made["answers"][0] in t for t in texts(at))
    assert any(QUESTION in t for t in texts(at))
    assert sidebar_events(at)[0] == "started"


def test_thumbs_rate_an_answer(ui_env: Gateway) -> None:
    import sqlite3

    at = page("chat")
    at.query_params["session"] = made["sessions"][0]
    at.run()
    assert_clean(at)
    assert at.feedback, "no thumbs on the answer"
    at.feedback[0].set_value(0).run()  # thumbs down
    assert_clean(at)
    if ui_env.standin:
        return
    with sqlite3.connect(ui_env.data_dir / "nexus.db") as db:
        assert db.execute("SELECT score FROM router_feedback").fetchall() == [(0.0,)]


def test_interrupt_reply_resume(ui_env: Gateway) -> None:
    at = page("chat")
    at.run()
    at.chat_input[0].set_value(VAGUE).run()
    assert_clean(at)
    sid = at.query_params["session"]
    sid = sid[0] if isinstance(sid, list) else sid
    events = trace_events(ui_env, sid)
    question = next(e["data"]["question"] for e in events if e["type"] == "interrupt")
    assert any(question in i.value for i in at.info)
    assert "final" not in [e["type"] for e in events]

    opened = ui_client.streams_opened
    at.text_input(key="reply_text").input("I need a haiku about the sea.")
    next(b for b in at.button if b.label == "Reply and resume").click().run()
    assert_clean(at)
    assert ui_client.streams_opened == opened + 1
    events = trace_events(ui_env, sid)
    answer = final_answer(events)
    assert any(answer in t for t in texts(at))
    assert not any("Reply and resume" == b.label for b in at.button)  # no longer paused
    made["sessions"].append(sid)
    made["answers"].append(answer)


def test_work_orders_show_the_runs(ui_env: Gateway) -> None:
    at = page("work_orders")
    at.run()
    assert_clean(at)
    df = at.dataframe[0].value
    assert len(df) >= 2
    cells = df.astype(str).to_string()
    assert made["sessions"][0] in cells or any(str(i) in cells for i in df.get("id", []))
    # The detail view of the newest order lists its events and model calls.
    assert any(t.startswith("**Events**") for t in texts(at))
    assert any(t.startswith("**Model calls**") for t in texts(at))


def test_metrics_count_the_runs(ui_env: Gateway) -> None:
    at = page("metrics")
    at.run()
    assert_clean(at)
    requests = next(m for m in at.metric if m.label == "Requests")
    assert int(str(requests.value).replace(",", "")) >= 2
    assert at.get("vega_lite_chart")


def test_models_page_routes_without_generating(ui_env: Gateway) -> None:
    at = page("models")
    at.run()
    assert_clean(at)
    assert len(at.dataframe[0].value) >= (1 if ui_env.standin else 3)  # the demo catalogue
    before = len(work_orders_all(ui_env))
    at.text_area(key="route_query").input(QUESTION)
    next(b for b in at.button if b.label == "Route it").click().run()
    assert_clean(at)
    assert at.get("vega_lite_chart")
    assert any(m.label == "Chosen model" for m in at.metric)
    assert len(work_orders_all(ui_env)) == before  # routing only: no new work order


def test_models_page_adds_and_removes_a_prototype(ui_env: Gateway) -> None:
    at = page("models")
    at.run()
    model = at.selectbox(key="proto_model").value
    text = "Translate this legal contract clause into plain English"
    at.text_input(key="proto_text").input(text)
    next(b for b in at.button if b.label == "Add prototype").click().run()
    assert_clean(at)
    assert any(text in s.value for s in at.success)
    protos = httpx.get(f"{ui_env.url}/models/{model}/prototypes", timeout=10).json()["prototypes"]
    assert text in protos
    at.text_input(key="proto_text").input(text)
    next(b for b in at.button if b.label == "Remove prototype").click().run()
    assert_clean(at)
    protos = httpx.get(f"{ui_env.url}/models/{model}/prototypes", timeout=10).json()["prototypes"]
    assert text not in protos


def work_orders_all(gw: Gateway) -> list[dict[str, Any]]:
    r = httpx.get(f"{gw.url}/api/work-orders", params={"limit": 1000}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    rows: list[dict[str, Any]] = body["data"]
    return rows


def test_agents_page_lists_roles_and_health(ui_env: Gateway) -> None:
    at = page("agents")
    at.run()
    assert_clean(at)
    roles = at.dataframe[0].value
    assert {"judge", "escalation", "classifier"} <= set(roles["role"]) or ui_env.standin
    workers = at.dataframe[1].value
    assert len(workers) >= 1
    # The tool-calling agents (GET /api/agents): the demo catalogue's assistant, its tools, its health.
    agents = at.dataframe[2].value
    if not ui_env.standin:
        assistant = agents[agents["agent"] == "assistant"].iloc[0]
        assert "calculator" in assistant["tools"] and "http_request" in assistant["tools"]
        assert assistant["healthy"] in ("🟢 ok", "🔴 down", "⚪ unknown") and assistant["model"]


def test_gateway_down_shows_banner_not_traceback() -> None:
    import os

    from .conftest import free_port

    old = os.environ.get("NEXUS_API_URL")
    os.environ["NEXUS_API_URL"] = f"http://127.0.0.1:{free_port()}"
    try:
        for name in ("chat", "work_orders", "metrics", "models", "agents"):
            at = page(name)
            at.run()
            assert not at.exception, name
            assert any("Gateway unreachable" in e.value for e in at.error), name
    finally:
        if old is None:
            os.environ.pop("NEXUS_API_URL", None)
        else:
            os.environ["NEXUS_API_URL"] = old
