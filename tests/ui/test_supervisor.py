"""UISupervisor: the UI child comes up, is restarted after a crash, and stops with its parent."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from nexus.ui.supervisor import UISupervisor, api_url_for

from .conftest import free_port


def _wait(pred: object, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/_stcore/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_restarts_after_crash_and_stops() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sup = UISupervisor(api_url=f"http://127.0.0.1:{free_port()}", port=port, min_backoff_s=0.2)
    with sup:
        assert _wait(lambda: _healthy(url)), "the UI did not come up"
        first = sup.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)  # a crash
        assert _wait(lambda: sup.pid not in (None, first) and _healthy(url)), "the UI was not restarted"
        assert sup.restarts == 1
        second = sup.pid
    assert sup.pid is None
    assert second is not None
    assert not _wait(lambda: _healthy(url), timeout=1.0)


def test_api_url_for_wildcard_bind() -> None:
    assert api_url_for("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert api_url_for("127.0.0.1", 9000) == "http://127.0.0.1:9000"
    assert api_url_for("::1", 8000) == "http://[::1]:8000"


STANDIN = """
import os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(sys.argv[1], "w") as f:
    f.write(f"{os.getpid()} {grandchild.pid}")
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


def test_stop_ends_the_child_and_everything_it_spawned(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    sup = UISupervisor(
        api_url="http://127.0.0.1:1", port=free_port(), command=[sys.executable, "-c", STANDIN, str(pids)]
    )
    with sup:
        assert _wait(lambda: pids.exists() and pids.read_text().count(" ") == 1, timeout=30)
        child, grandchild = map(int, pids.read_text().split())
        assert os.getpgid(grandchild) == os.getpgid(child) != os.getpgid(0)  # its own group
    assert _wait(lambda: not _alive(child) and not _alive(grandchild), timeout=10), (
        "a UI process outlived stop()"
    )


def test_a_ui_port_in_use_is_said_and_the_ui_waits_for_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pids = tmp_path / "pids"
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    sup = UISupervisor(
        api_url="http://127.0.0.1:1",
        port=port,
        min_backoff_s=0.2,
        max_backoff_s=0.2,
        command=[sys.executable, "-c", STANDIN, str(pids)],
    )
    with caplog.at_level(logging.ERROR, logger="nexus.ui"), sup:
        assert _wait(lambda: f"UI port {port} on 127.0.0.1 is in use" in caplog.text, timeout=10)
        time.sleep(0.5)
        assert not pids.exists() and sup.restarts == 0  # no crash loop on a taken port
        holder.close()
        assert _wait(pids.exists, timeout=30), "the UI did not start once its port was free"
