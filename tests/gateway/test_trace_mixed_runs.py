"""A session that also holds an agent run: its pipeline trace still reads (the fuzzer found a 500 here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nexus.config.settings import Settings
from nexus.gateway.app import create_app


def test_the_trace_of_a_session_with_an_agent_run_is_not_a_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_DEMO_SPEED", "0")
    app = create_app(Settings(demo=True, auth="off", data_dir=tmp_path))
    with TestClient(app) as c:
        assert c.post("/api/chat", json={"content": "hello there!", "session_id": "mixed"}).status_code == 200
        run = c.post("/api/agents/assistant/runs", json={"input": "What is 2+2?", "session_id": "mixed"})
        assert run.status_code in (200, 201), run.text
        trace = c.get("/trace/mixed")
        assert trace.status_code == 200, trace.text
        types = {e["type"] for e in trace.json()["events"]}
        assert "started" in types and "step" not in types  # the agent's steps are read at /api/agents/runs
        only_agent = c.post("/api/agents/assistant/runs", json={"input": "hi", "session_id": "agent-only"})
        assert only_agent.status_code in (200, 201)
        assert c.get("/trace/agent-only").status_code == 404
