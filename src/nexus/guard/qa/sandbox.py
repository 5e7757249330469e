"""Run untrusted Python in a throwaway subprocess: rlimits, temp cwd, scrubbed env, isolated mode, no network.

Network isolation is a fresh network namespace (`unshare -n`) where that works; in every case an audit
hook in the child refuses socket connects, binds and name lookups as a second fence.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_BOOT = """
import sys
def _no_network(event, args):
    if event in ("socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
                 "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg"):
        raise PermissionError("network access is disabled in the QA sandbox")
sys.addaudithook(_no_network)
import runpy
runpy.run_path("main.py", run_name="__main__")
"""


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    network_namespace: bool

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@lru_cache(maxsize=1)
def unshare_available() -> bool:
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "--net", "true"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _limits(memory_mb: int, cpu_s: int) -> None:
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024 * 1024, 16 * 1024 * 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_python(code: str, timeout_s: float = 5.0, memory_mb: int = 256) -> SandboxResult:
    netns = unshare_available()
    with tempfile.TemporaryDirectory(prefix="nexus-qa-") as tmp:
        Path(tmp, "main.py").write_text(code, encoding="utf-8")
        Path(tmp, "_boot.py").write_text(_BOOT, encoding="utf-8")
        cmd = [sys.executable, "-I", "_boot.py"]
        if netns:
            cmd = [shutil.which("unshare") or "unshare", "--net", "--", *cmd]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        cpu = max(1, int(timeout_s + 0.999))
        proc = subprocess.Popen(
            cmd,
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, so a timeout kills any children too
            preexec_fn=lambda: _limits(memory_mb, cpu),  # noqa: PLW1509 - no threads are started before exec
        )
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        # A CPU-limit kill (SIGXCPU/SIGKILL) is a timeout too.
        if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            timed_out = True
        return SandboxResult(proc.returncode, out[-20_000:], err[-20_000:], timed_out, netns)
