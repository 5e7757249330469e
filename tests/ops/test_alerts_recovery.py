"""Alerts (one per incident within the cooldown, then a recovery message) to a real webhook receiver
and a Telegram chat of the fake Bot API; bounded recovery; systemd notifications on a real socket."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nexus.config.settings import Settings
from nexus.ops import systemd
from nexus.ops.alerts import Alerter, LogSink, TelegramSink, WebhookSink
from nexus.ops.checks import StuckRunsCheck
from nexus.ops.heartbeat import Heartbeat
from nexus.ops.history import History
from nexus.ops.jobs import JobsCheck, QueueStats
from nexus.ops.recovery import FreeDisk, MarkStuckRuns, ReclaimStuckJobs, Recovery, RestartUI
from nexus.ops.types import CheckResult, State
from nexus.store import TenantScope, open_store
from nexus.store.models import utcnow
from nexus.testing import FakeTelegram
from nexus.testing.markdown_v2 import parse


class Receiver:
    """A webhook receiver on loopback that keeps the JSON bodies it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                n = int(self.headers.get("content-length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def r(state: State, name: str = "redis", detail: str = "") -> CheckResult:
    return CheckResult(name, state, detail or state)


async def test_one_alert_per_incident_within_the_cooldown_then_a_recovery(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    with FakeTelegram() as tg:
        assert isinstance(tg, FakeTelegram)
        sinks = [LogSink(), WebhookSink(receiver.url), TelegramSink(tg.token, tg.base_url, [4242])]
        alerter = Alerter(sinks, cooldown_s=600, clock=clock)
        assert await alerter.observe([r("ok")]) == []
        kinds = []
        for _ in range(5):  # failing for 4 minutes: one alert
            kinds += [
                a.kind for a in await alerter.observe([r("warning", detail="unreachable: ConnectionError")])
            ]
            clock.now += 60
        assert kinds == ["alert"]
        clock.now += 600  # still failing past the cooldown: one reminder
        assert [a.kind for a in await alerter.observe([r("warning")])] == ["reminder"]
        assert [a.kind for a in await alerter.observe([r("critical")])] == ["alert"]  # worse: at once
        assert [a.kind for a in await alerter.observe([r("ok", detail="ping in 1 ms")])] == ["recovery"]
        assert await alerter.observe([r("ok")]) == []
        # Flapping inside the cooldown after the last alert stays quiet (and so does its recovery).
        clock.now += 10
        assert await alerter.observe([r("critical")]) == []
        assert await alerter.observe([r("ok")]) == []

        texts = [b["text"] for b in receiver.bodies]
        assert len(texts) == 4 and "WARNING redis: unreachable" in texts[0] and "RECOVERED redis" in texts[-1]
        sent = tg.wait_messages(4242, 4)
        for m in sent:
            parse(m.text)
        assert "RECOVERED redis" in sent[-1].plain
        assert "WARNING redis" in caplog.text


async def test_a_broken_sink_does_not_silence_the_others(receiver: Receiver) -> None:
    alerter = Alerter(
        [WebhookSink("http://127.0.0.1:9/nothing", 1.0), WebhookSink(receiver.url)], cooldown_s=60
    )
    assert [a.kind for a in await alerter.observe([r("critical")])] == ["alert"]
    assert len(receiver.bodies) == 1


class MemoryJobs:
    """The JobsProbe seam over a list of jobs (the job system implements it over its own store)."""

    def __init__(self) -> None:
        self.jobs: dict[str, str] = {"j1": "running-stuck", "j2": "running", "j3": "queued"}
        self.reclaims = 0

    async def stats(self) -> QueueStats:
        v = list(self.jobs.values())
        return QueueStats(
            queued=v.count("queued"),
            running=sum(s.startswith("running") for s in v),
            oldest_queued_s=5.0 if "queued" in v else 0.0,
            stuck=v.count("running-stuck"),
        )

    async def reclaim_stuck(self, limit: int) -> int:
        self.reclaims += 1
        stuck = [k for k, s in self.jobs.items() if s == "running-stuck"][:limit]
        for k in stuck:
            self.jobs[k] = "queued"
        return len(stuck)


async def test_recovery_reclaims_stuck_jobs_and_marks_stuck_runs_within_its_bound(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, heartbeat_stuck_run_s=60)
    store = await open_store(settings)
    try:
        old = utcnow() - timedelta(minutes=5)
        await store.work_orders(TenantScope("acme")).add(
            id="hung", status="running", updated_at=old, created_at=old
        )
        jobs = MemoryJobs()
        beat = Heartbeat(
            [JobsCheck(jobs, settings), StuckRunsCheck(store, settings)],
            timeout_s=2,
            history=History(store, 7),
            recovery=Recovery([ReclaimStuckJobs(jobs), MarkStuckRuns(store, settings)], max_attempts=2),
        )
        first = await beat.run_once()
        assert {x.name: x.state for x in first.results}["stuck_jobs"] == "warning"
        assert {(a.action, a.outcome) for a in first.actions} == {
            ("reclaim_stuck_jobs", "1 stuck job(s) handed back to the queue"),
            ("mark_stuck_runs", "1 stuck run(s) marked interrupted"),
        }
        assert jobs.jobs["j1"] == "queued"
        row = await store.work_orders(TenantScope("acme")).get("hung")
        assert (row.status, row.incomplete) == ("failed", True) and "heartbeat" in (row.error or "")
        second = await beat.run_once()
        assert second.worst == "ok" and second.actions == []
        history = await beat.history.repo.history(name="recovery:reclaim_stuck_jobs")  # type: ignore[union-attr]
        assert len(history) == 1
    finally:
        await store.close()


class StubbornUI:
    """A Restartable whose restarts never help: recovery must stop after its bound."""

    def __init__(self) -> None:
        self.restarts = 0

    def restart(self) -> None:
        self.restarts += 1


class DownUI:
    name = "ui"

    def __init__(self) -> None:
        self.state: State = "warning"

    async def run(self) -> list[CheckResult]:
        return [CheckResult("ui", self.state, "not answering" if self.state != "ok" else "HTTP 200")]


async def test_recovery_is_bounded_per_incident_and_resets_when_it_passes() -> None:
    ui, check = StubbornUI(), DownUI()
    beat = Heartbeat([check], timeout_s=1, recovery=Recovery([RestartUI(ui)], max_attempts=3))
    for _ in range(6):
        await beat.run_once()
    assert ui.restarts == 3
    check.state = "ok"
    await beat.run_once()
    check.state = "warning"
    await beat.run_once()
    assert ui.restarts == 4  # a new incident, a fresh set of attempts


async def test_free_disk_removes_only_old_temp_files_of_nexus(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, heartbeat_temp_max_age_h=1, retention_days=30)
    store = await open_store(settings)
    try:
        tmp = tmp_path / "tmp"
        (tmp / "uploads").mkdir(parents=True)
        old, new, outside = tmp / "uploads" / "old.bin", tmp / "new.bin", tmp_path / "keep.bin"
        for p in (old, new, outside):
            p.write_bytes(b"x" * 100)
        two_hours_ago = time.time() - 7200
        for p in (old, outside):
            os.utime(p, (two_hours_ago, two_hours_ago))
        done = await FreeDisk(store, settings).run(CheckResult("disk", "critical"))
        assert "removed 1 temp file(s), 100 bytes" in done
        assert not old.exists() and new.exists() and outside.exists()
    finally:
        await store.close()


def test_systemd_hears_ready_watchdog_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
        assert systemd.notify("READY=1") is False  # not under systemd: nothing to tell
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # pings every 0.5 s
        monkeypatch.delenv("WATCHDOG_PID", raising=False)

        async def briefly() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(systemd.watchdog(stop))
            await asyncio.sleep(1.2)
            stop.set()
            await task

        asyncio.run(briefly())
        got = [sock.recv(1024).decode() for _ in range(3)]
        assert got[0] == "READY=1" and got[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
    finally:
        sock.close()
