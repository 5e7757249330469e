"""The shared cache of derived model files: built once, atomically, even when processes race."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from nexus.config.artifacts import cache_root, ensure_artifact


def _slow_build(tmp: Path) -> None:
    # Each builder appends to a log so the test can count how many builds really ran.
    with open(tmp.parent / "builds.log", "a") as log:
        log.write("build\n")
    tmp.write_text("partial")
    time.sleep(0.3)  # a window in which a racing reader would see a partial file without the lock
    tmp.write_text("complete")


def _race(path: str) -> None:
    ensure_artifact(Path(path), _slow_build)


def test_cache_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEXUS_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("NEXUS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "nexus"


def test_two_processes_build_once(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.onnx"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_race, args=(str(target),)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert [w.exitcode for w in workers] == [0, 0]
    assert target.read_text() == "complete"
    assert (target.parent / "builds.log").read_text().count("build") == 1
    assert not [p for p in target.parent.iterdir() if ".tmp" in p.name]


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("exporter broke")

    with pytest.raises(RuntimeError):
        ensure_artifact(target, broken)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz.lock"]
    assert ensure_artifact(target, lambda tmp: tmp.write_text("ok")).read_text() == "ok"
