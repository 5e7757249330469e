"""Runs the Streamlit UI as a supervised child process of `nexus serve`.

A crash restarts it after a growing delay (1 s, 2 s, 4 s … capped), reset once it has stayed up a
while; `stop()` ends it with the gateway. The child gets NEXUS_API_URL pointing at the gateway.

The child runs in its own process group, which `stop()` ends (SIGTERM, then SIGKILL): nothing it spawned
outlives the gateway. On Linux it also gets SIGTERM when the gateway dies without stopping it (SIGKILL).
A UI port already in use is said plainly, and the UI is not started until it is free.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("nexus.ui")

APP = Path(__file__).with_name("app.py")


def streamlit_command(port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _death_signal() -> Callable[[], None] | None:
    """A pre-exec hook: the child gets SIGTERM when the thread that spawned it (the supervisor) dies.

    prctl is resolved here, in the parent: the forked child only calls it (no dlopen after fork)."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return hook


def api_url_for(host: str, port: int) -> str:
    """The URL the UI uses to reach a gateway bound to host:port (a wildcard bind means loopback)."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{'[' + reach + ']' if ':' in reach else reach}:{port}"


@dataclass
class UISupervisor:
    api_url: str
    port: int = 8501
    host: str = "127.0.0.1"
    min_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    # A child that lived this long was healthy: the next crash starts the backoff over.
    stable_after_s: float = 60.0
    restarts: int = 0
    # The child's argv (default: Streamlit on host:port); tests give a stand-in.
    command: list[str] | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="nexus-ui-supervisor", daemon=True)
        self._thread.start()
        log.info("UI starting", extra={"url": f"http://{self.host}:{self.port}", "api": self.api_url})

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "NEXUS_API_URL": self.api_url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        return subprocess.Popen(
            self.command or streamlit_command(self.port, self.host),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=None,  # Streamlit's errors belong in the gateway's log
            start_new_session=True,  # its own process group: stop() ends everything it spawned
            preexec_fn=_death_signal(),
        )

    def _loop(self) -> None:
        backoff = self.min_backoff_s
        while not self._stop.is_set():
            if port_in_use(self.host, self.port):
                log.error(
                    "UI port %d on %s is in use by another process: the UI waits for it "
                    "(stop that process or pass --ui-port)",
                    self.port,
                    self.host,
                    extra={"port": self.port, "delay_s": backoff},
                )
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            with self._lock:
                if self._stop.is_set():
                    return
                self._proc = self._spawn()
            started = time.monotonic()
            code = self._proc.wait()
            if self._stop.is_set():
                return
            if time.monotonic() - started >= self.stable_after_s:
                backoff = self.min_backoff_s
            self.restarts += 1
            log.warning("UI exited; restarting", extra={"code": code, "delay_s": backoff})
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff_s)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            proc = self._proc
        if proc is not None:
            _stop_group(proc, timeout)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> UISupervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the child's process group, SIGKILL what is left after `timeout`."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = None
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        with contextlib.suppress(ProcessLookupError):
            if pgid is not None:
                os.killpg(pgid, sig)
            elif proc.poll() is None:
                proc.send_signal(sig)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue
        if pgid is None or not _group_alive(pgid):
            return
        deadline = time.monotonic() + wait_s  # the child is gone; give its own children the same time
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _group_alive(pgid):
            return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
