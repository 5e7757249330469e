"""A real gateway in demo mode (a subprocess on a free loopback port) for the UI tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REQUIRE_SERVICES = os.environ.get("NEXUS_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "tests" / "_output" / "ui"
# The UI's contract with the gateway: the routes its pages call.
UI_ROUTES = (
    "/chat",
    "/resume",
    "/trace/{session_id}",
    "/api/work-orders",
    "/api/metrics",
    "/models",
    "/route",
)
STANDIN = os.environ.get("NEXUS_UI_STANDIN") == "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Gateway:
    url: str
    port: int
    data_dir: Path
    standin: bool


def _command(port: int) -> list[str]:
    if STANDIN:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.ui.standin:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    return [sys.executable, "-m", "nexus.cli.main", "serve", "--demo", "--no-ui", "--port", str(port)]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`nexus serve --demo --no-ui` on a free port, with its own data dir and auth off."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("gateway-data")
    env = {
        **os.environ,
        "NEXUS_DATA_DIR": str(data_dir),
        "NEXUS_AUTH": "off",
        "NEXUS_DEMO_SPEED": "0",
        "NEXUS_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen(_command(port), cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health", proc)
        paths = set(httpx.get(url + "/openapi.json", timeout=10).json().get("paths", {}))
        missing = [p for p in UI_ROUTES if p not in paths]
        if missing:
            msg = f"the gateway does not serve the UI's routes yet: {', '.join(missing)}"
            if REQUIRE_SERVICES:
                pytest.fail(msg)
            pytest.skip(msg)
        yield Gateway(url, port, data_dir, STANDIN)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def ui_env(gateway: Gateway) -> Iterator[Gateway]:
    """Points the UI (AppTest runs the pages in this process) at the test gateway."""
    old = os.environ.get("NEXUS_API_URL")
    os.environ["NEXUS_API_URL"] = gateway.url
    yield gateway
    if old is None:
        os.environ.pop("NEXUS_API_URL", None)
    else:
        os.environ["NEXUS_API_URL"] = old
