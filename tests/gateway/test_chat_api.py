# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""The native chat API over HTTP: interrupt + resume, 409, trace, and the WebSocket."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.testclient import TestClient
from tests.pipeline.conftest import _fresh, classifier_cache, client, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import final, make_app, post_events, settings_for, types, write_test_catalogue

from nexus.testing import FakeOpenAI, Reply


async def test_ambiguous_request_interrupts_then_resume_completes(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    events = await post_events(client, "/chat", {"message": "fix it", "session_id": "s-int"})
    assert types(events) == ["started", "classified", "interrupt", "done"]
    assert "it" in events[2]["data"]["question"] and events[-1]["data"]["status"] == "paused"
    fakes["coder"].default = fakes["general"].default = Reply(text="Here is the fixed SQL query.")
    try:
        resumed = await post_events(
            client, "/resume", {"session_id": "s-int", "reply": "the slow SQL query in reports"}
        )
    finally:
        fakes["coder"].default = fakes["general"].default = Reply()
    assert resumed[0]["run_id"] == events[0]["run_id"]
    assert types(resumed)[:3] == ["started", "classified", "routed"] and types(resumed)[-2:] == [
        "final",
        "done",
    ]
    assert final(resumed)["answer"] == "Here is the fixed SQL query."
    sent = (fakes["coder"].requests + fakes["general"].requests)[-1].json["messages"][-1]["content"]
    assert "fix it" in sent and "the slow SQL query in reports" in sent


async def test_resume_of_an_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    # (a known session with nothing paused is a 409: see tests/pipeline/test_hitl_restart.py)
    r = await client.post("/resume", json={"session_id": "never-seen", "reply": "hello"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "session_not_found"


async def test_trace_has_every_event_of_every_run_and_a_summary(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    assert (await client.get("/trace/unknown-session")).status_code == 404
    first = await post_events(client, "/chat", {"message": "fix it", "session_id": "s-tr"})
    second = await post_events(client, "/resume", {"session_id": "s-tr", "reply": "the README typo"})
    third = await post_events(client, "/chat", {"message": "hello there!", "session_id": "s-tr"})
    r = await client.get("/trace/s-tr")
    assert r.status_code == 200
    body = r.json()
    # The durable trace keeps every event but tokens (the final answer holds their text).
    streamed = [e for e in first + second + third if e["type"] != "token"]
    assert [e["type"] for e in body["events"]] == [e["type"] for e in streamed]
    summary = body["summary"]
    assert summary["run_count"] == 2 and summary["event_count"] == len(body["events"])
    statuses = [run["status"] for run in summary["runs"]]
    assert statuses == ["completed", "completed"]  # the paused run completed after /resume
    assert summary["total_tokens"] > 0 and summary["total_cost_usd"] > 0


def test_websocket_streams_events_and_resumes_on_the_same_socket(
    tmp_path: Path,
    fakes: dict[str, FakeOpenAI],
    classifier_cache: Path,  # noqa: F811
) -> None:
    cat = write_test_catalogue(tmp_path / "catalogue.yaml", fakes)
    app = make_app(settings_for(tmp_path, cat), classifier_cache)
    with TestClient(app) as tc, tc.websocket_connect("/ws/chat") as ws:
        ws.send_json({"type": "chat", "message": "fix it", "session_id": "ws-1"})
        seen = []
        while not seen or seen[-1]["type"] != "done":
            seen.append(ws.receive_json())
        assert [e["type"] for e in seen] == ["started", "classified", "interrupt", "done"]
        ws.send_json({"type": "resume", "session_id": "ws-1", "reply": "the flaky unit test"})
        seen = []
        while not seen or seen[-1]["type"] != "done":
            seen.append(ws.receive_json())
        assert seen[-2]["type"] == "final" and seen[-1]["data"]["status"] == "completed"
        ws.send_json({"type": "resume", "session_id": "ws-1", "reply": "again"})
        err = ws.receive_json()
        assert err["type"] == "error" and err["data"]["code"] == "not_paused"
