"""UISupervisor: the UI child comes up, is restarted after a crash, and stops with its parent."""

from __future__ import annotations

import os
import signal
import time

import httpx

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
