"""HITL durability: a run paused on a clarifying question survives killing the server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.pipeline.harness import TEST_KEY, final, parse_sse, types, write_test_catalogue

from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(data_dir: Path, catalogue: Path, cache: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NEXUS_DATA_DIR": str(data_dir),
        "NEXUS_CONFIG": str(catalogue),
        "NEXUS_TEST_KEY": TEST_KEY,
        "NEXUS_TEST_CLASSIFIER_CACHE": str(cache),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.pipeline.serve_app:app",
            "--factory",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/trace/none", timeout=1).status_code == 404:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("server did not start")


def test_interrupt_survives_a_server_restart(
    tmp_path: Path, fakes: dict[str, FakeOpenAI], classifier_cache: Path
) -> None:
    catalogue = write_test_catalogue(tmp_path / "catalogue.yaml", fakes)
    port = free_port()
    proc = _start(tmp_path, catalogue, classifier_cache, port)
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/chat", json={"message": "fix it", "session_id": "hitl-1"}, timeout=30
        )
        events = parse_sse(r.text)
        assert types(events) == ["started", "classified", "interrupt", "done"]
        assert events[-1]["data"]["status"] == "paused"
        run_id = events[0]["run_id"]
    finally:
        proc.send_signal(signal.SIGKILL)  # no graceful shutdown: only the checkpoint keeps the pause
        proc.wait(10)

    fakes["coder"].default = fakes["general"].default = Reply(
        text="Fixed: the None check in login() was inverted."
    )
    proc = _start(tmp_path, catalogue, classifier_cache, port)
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/resume",
            json={
                "session_id": "hitl-1",
                "reply": "the login bug in auth.py where users with no password get in",
            },
            timeout=30,
        )
        assert r.status_code == 200, r.text
        events = parse_sse(r.text)
        assert events[0]["run_id"] == run_id and events[0]["data"]["resumed"] is True
        assert types(events)[-2:] == ["final", "done"] and "interrupt" not in types(events)
        assert final(events)["answer"].startswith("Fixed:") and final(events)["clarified"] is True
        served = fakes["coder"].requests + fakes["general"].requests
        assert "login bug in auth.py" in served[-1].json["messages"][-1]["content"]
        again = httpx.post(
            f"http://127.0.0.1:{port}/resume", json={"session_id": "hitl-1", "reply": "x"}, timeout=10
        )
        assert again.status_code == 409
    finally:
        fakes["coder"].default = fakes["general"].default = Reply()
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
