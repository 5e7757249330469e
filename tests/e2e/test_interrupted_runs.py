"""A routed run killed with SIGKILL mid-answer is marked interrupted in its trace when the gateway comes
back, not left `running` forever."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from e2e.harness import ServeProcess, catalogue
from nexus.testing import FakeOpenAI, Reply


def test_a_run_killed_mid_answer_is_interrupted_in_its_trace_after_restart(tmp_path: Path) -> None:
    with FakeOpenAI() as upstream:
        upstream.default = Reply(text="never delivered", delay=60)  # every call hangs
        cat = catalogue(tmp_path / "catalogue.yaml", {"only": upstream.base_url})
        first = ServeProcess(cat, tmp_path).start()
        try:
            body = {"message": "Write a short story about a lighthouse keeper", "session_id": "killed-run"}
            with httpx.stream("POST", first.base_url + "/chat", json=body, timeout=30) as r:
                assert r.status_code == 200
                # Keep the line iterator referenced: a dropped generator closes the response, and a
                # client that leaves stops its run (`cancelled`) — this run must still be live when killed.
                lines = r.iter_lines()
                for line in lines:
                    if line.startswith("event: worker_started"):
                        break
                time.sleep(1.5)  # past the accounting flush bound: the run's events are on disk
                first.kill9()
        finally:
            first.kill()
        second = ServeProcess(cat, tmp_path).start()
        try:
            trace = httpx.get(second.base_url + "/trace/killed-run", timeout=30).json()
            types = [e["type"] for e in trace["events"]]
            assert "worker_started" in types and "final" not in types
            assert types[-2:] == ["error", "done"], [(e["type"], e["data"]) for e in trace["events"][-3:]]
            assert trace["events"][-1]["data"]["status"] == "interrupted"
            assert trace["events"][-2]["data"]["code"] == "interrupted"
            [run] = trace["summary"]["runs"]
            assert run["status"] == "interrupted"
            orders = httpx.get(second.base_url + "/api/work-orders", timeout=30).json()["data"]
            [order] = [o for o in orders if o["session_id"] == "killed-run"]
            assert order["status"] != "running" and order["incomplete"] is True
        finally:
            second.stop()
