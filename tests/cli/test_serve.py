"""`nexus serve` as a user runs it: the offline demo's auth rule, and SIGTERM / SIGKILL of the gateway take
its UI child (and the UI's port) with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.TransportError:
        return False


def start(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    environ |= {"NEXUS_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "NEXUS_DEMO_SPEED": "0"}
    environ |= env or {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus.cli.main", "serve", "--demo", "--port", str(port), *args],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),
    )
    if not wait_for(lambda: answers(f"http://127.0.0.1:{port}/health") or proc.poll() is not None, 90):
        proc.kill()
        pytest.fail("nexus serve did not come up: " + (tmp_path / "serve.log").read_text()[-2000:])
    assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
    return proc, port


@pytest.fixture
def stop_all() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


CHAT = {"model": "nexus-auto", "messages": [{"role": "user", "content": "What is 2+2?"}]}


def test_serve_demo_runs_without_auth_until_told_otherwise(
    tmp_path: Path, stop_all: list[subprocess.Popen[bytes]]
) -> None:
    demo, port = start(tmp_path / "a", "--no-ui")
    stop_all.append(demo)
    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, timeout=30)
    assert r.status_code == 200, r.text
    forced, port = start(tmp_path / "b", "--no-ui", env={"NEXUS_AUTH": "on"})
    stop_all.append(forced)
    r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, timeout=30)
    assert r.status_code == 401 and r.json()["error"]["type"], r.text


def ui_child(gateway: subprocess.Popen[bytes], ui_port: int) -> psutil.Process:
    found: list[psutil.Process] = []

    def listening() -> bool:
        for child in psutil.Process(gateway.pid).children(recursive=True):
            try:
                if any(c.laddr.port == ui_port for c in child.net_connections(kind="tcp")):
                    found.append(child)
                    return True
            except psutil.Error:
                continue
        return False

    assert wait_for(listening, 120), "the UI child never listened on its port"
    return found[0]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_ui_child_and_its_port_go_with_the_gateway(
    tmp_path: Path, stop_all: list[subprocess.Popen[bytes]], how: signal.Signals
) -> None:
    ui_port = free_port()
    gateway, _ = start(tmp_path, "--ui-port", str(ui_port))
    stop_all.append(gateway)
    ui = ui_child(gateway, ui_port)
    gateway.send_signal(how)
    code = gateway.wait(30)
    if how == signal.SIGTERM:
        assert code == 0, "SIGTERM is a clean stop: " + (tmp_path / "serve.log").read_text()[-2000:]
    assert wait_for(lambda: not ui.is_running() or ui.status() == psutil.STATUS_ZOMBIE, 15), (
        f"the UI child (pid {ui.pid}) outlived the gateway's {how.name}"
    )
    with socket.socket() as s:  # the next start finds the UI port free
        s.bind(("127.0.0.1", ui_port))
