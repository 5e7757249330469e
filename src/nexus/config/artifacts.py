"""The per-user cache of derived model files (the exported ONNX embedder, retrained classifiers).

These files depend only on the packaged weights, never on a deployment, so they live in one place per user
(`NEXUS_CACHE_DIR`, default `~/.cache/nexus`) rather than in each data dir: a fresh data dir (a test's tmp
dir, a new `make serve`, a CI job after the first) reuses them instead of paying the export again.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    configured = os.environ.get("NEXUS_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "nexus"


_registry_lock = threading.Lock()
_thread_locks: dict[Path, threading.Lock] = {}


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # flock serialises processes; a per-path thread lock covers threads of one process (flock is per open
    # file). Per path, not global: building one artifact may need another (a classifier needs embeddings).
    path.parent.mkdir(parents=True, exist_ok=True)
    with _registry_lock:
        thread_lock = _thread_locks.setdefault(path, threading.Lock())
    with thread_lock, open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_artifact(path: Path, build: Callable[[Path], None]) -> Path:
    """Return `path`, building it first if absent: `build(tmp)` writes a temporary file that is renamed
    into place, under a file lock, so concurrent processes build it once and never see a partial file."""
    if path.exists():
        return path
    with _file_lock(path):
        if path.exists():  # another process built it while we waited for the lock
            return path
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
        try:
            build(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path
