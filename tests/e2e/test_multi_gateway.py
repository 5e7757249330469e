"""Stateless gateways: two `nexus serve` processes and two `nexus worker` processes on one fresh PostgreSQL
database and one Redis (a key prefix of its own), in front of a fake upstream over HTTP.

- a tenant budget spent across both gateways is exact: the 429 comes at the right request, whichever
  gateway it reaches, and the spend recorded is the sum of what was answered;
- a catalogue reload on gateway A is seen by gateway B within 2 s (a Redis pub/sub broadcast carrying
  the catalogue: B's own file is never touched);
- a HITL pause created through A is resumed through B (the checkpoint lives in PostgreSQL);
- 500 work orders submitted across both gateways, one worker SIGKILLed midway: every one ends `done`
  exactly once, the dead-letter store is empty, none is lost.

The tests share one deployment (starting four processes costs more than the tests) and run in order.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from tests.conftest import POSTGRES_URL, REDIS_URL, _need_service

from nexus.config.settings import Settings
from nexus.store import open_store
from nexus.store.models import WorkOrder
from nexus.store.models_jobs import Instance, Job
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import write_catalogue

from .harness import COMPLETION_TOKENS, KEY, KEY_ENV, PROMPT_TOKENS, ServeProcess

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("cheap", "general", "coder", "agg", "judge", "senior")
PER_CALL = PROMPT_TOKENS + COMPLETION_TOKENS
N_ORDERS = 500
# Fast clocks for the job engine: a dead worker's lease runs out in 3 s, reclaim within ~1 s of that.
FAST = {
    "NEXUS_JOBS_LEASE_S": "3.0",
    "NEXUS_JOBS_POLL_S": "0.05",
    "NEXUS_JOBS_RETRY_BASE_S": "0.02",
    "NEXUS_JOBS_RETRY_MAX_S": "0.1",
    "NEXUS_JOBS_RECLAIM_IDLE_S": "1.0",
    "NEXUS_JOBS_SHUTDOWN_GRACE_S": "1.0",
}


def _catalogue(path: Path, base_url: str, extra: tuple[str, ...] = ()) -> Path:
    return write_catalogue(
        path,
        [
            {
                "id": m,
                "model": f"up-{m}",
                "base_url": base_url,
                "api_key_env": KEY_ENV,
                "tags": [m],
                "context_window": 8192,
            }
            for m in (*MODELS, *extra)
        ],
        roles={
            "classifier": "cheap",
            "self_answer": "cheap",
            "compressor": "cheap",
            "default": "general",
            "aggregator": "agg",
            "judge": "judge",
            "escalation": "senior",
        },
        workers={"code": "coder", "math": "general", "writing": "general"},
    )


@dataclass
class Deployment:
    database_url: str
    prefix: str
    data: Path
    catalogue_a: Path
    catalogue_b: Path
    upstream: FakeOpenAI
    a: ServeProcess
    b: ServeProcess
    workers: list[subprocess.Popen[bytes]]
    env: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data / "reader", database_url=self.database_url)

    def worker_log(self, i: int) -> str:
        return (self.data / f"worker-{i}.log").read_text(errors="replace")[-3000:]


def _sync_dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    return (u.set(database=database) if database else u).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def deployment(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    _need_service("PostgreSQL", "127.0.0.1", 5432)
    _need_service("Redis", "127.0.0.1", 6379)
    unique = uuid.uuid4().hex[:10]
    name, prefix = f"nexus_multi_{unique}", f"nexus-test-{unique}"
    data = tmp_path_factory.mktemp("multi")
    with psycopg.connect(_sync_dsn(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database_url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    env = {
        "NEXUS_DATABASE_URL": database_url,
        "NEXUS_REDIS_URL": REDIS_URL,
        "NEXUS_JOBS_STREAM_PREFIX": prefix,
        "NEXUS_EMBEDDINGS_BACKEND": "hashing",
        "NEXUS_AUTH": "off",
        "NEXUS_LOG_JSON": "false",
        "NEXUS_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        KEY_ENV: KEY,
        **FAST,
    }
    # Each gateway reads its own copy of the catalogue: B only learns of A's reload by the broadcast.
    cat_a = _catalogue(data / "catalogue-a.yaml", upstream.base_url)
    cat_b = data / "catalogue-b.yaml"
    shutil.copy(cat_a, cat_b)
    (data / "a").mkdir()
    (data / "b").mkdir()
    # The first gateway migrates the fresh database; the others start once it answers.
    a = ServeProcess(cat_a, data / "a", env=env)
    b = ServeProcess(cat_b, data / "b", env=env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        a.start()
        for i in range(2):
            (data / f"w{i}").mkdir()
            with (data / f"worker-{i}.log").open("wb") as log:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "nexus.cli.worker", "--concurrency", "8"],
                        env={
                            **{k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")},
                            **env,
                            "NEXUS_CONFIG": str(cat_a),
                            "NEXUS_DATA_DIR": str(data / f"w{i}"),
                        },
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        b.start()
        yield Deployment(database_url, prefix, data, cat_a, cat_b, upstream, a, b, workers, env)
    finally:
        for gw in (a, b):
            gw.stop()
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait(10)
        with psycopg.connect(_sync_dsn(POSTGRES_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def _ask(c: httpx.Client, gw: ServeProcess, model: str = "general") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}]}
    return c.post(gw.base_url + "/v1/chat/completions", json=body)


async def _spend(settings: Settings) -> tuple[int, int]:
    """(work orders, tokens) recorded in the database for the default tenant."""
    store = await open_store(settings, migrate=False)
    try:
        async with store.sessions() as s:
            n, tokens = (
                await s.execute(
                    select(
                        func.count(), func.coalesce(func.sum(WorkOrder.tokens_in + WorkOrder.tokens_out), 0)
                    )
                    .select_from(WorkOrder)
                    .where(WorkOrder.tenant_id == "default", WorkOrder.status == "done")
                )
            ).one()
        return int(n), int(tokens)
    finally:
        await store.close()


def test_a_budget_spent_across_both_gateways_is_exact(deployment: Deployment) -> None:
    d = deployment
    limit = 1000  # 165 tokens a call: 6 calls leave 990 < 1000, the 7th is admitted, the 8th refused
    expected_ok = -(-limit // PER_CALL)
    with httpx.Client(timeout=30) as c:
        r = c.put(
            d.a.base_url + "/admin/tenants/default/budgets",
            json={"period": "day", "metric": "tokens", "limit": limit, "hard": True},
        )
        assert r.status_code == 200, r.text
        budget_id = r.json()["id"]
        time.sleep(0.5)  # the rule change reaches B by broadcast
        statuses = []
        for gw in itertools.islice(itertools.cycle((d.a, d.b)), expected_ok + 3):
            resp = _ask(c, gw)
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.json()["error"]["code"] == "budget_exceeded"
        # Every request alternated between A and B; the refusal comes exactly when the sum is spent.
        assert statuses == [200] * expected_ok + [429] * 3, statuses

        # Removing the budget through B frees A at once (the rule change is broadcast too).
        r = c.delete(f"{d.b.base_url}/admin/tenants/default/budgets/{budget_id}")
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 2.0
        while (resp := _ask(c, d.a)).status_code == 429 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert resp.status_code == 200, resp.text
    time.sleep(1.5)  # the accounting queue's flush bound
    n, tokens = asyncio.run(_spend(d.settings))
    assert (n, tokens) == (expected_ok + 1, (expected_ok + 1) * PER_CALL)  # the spend is the sum


def test_a_catalogue_reload_on_a_is_seen_by_b_within_2s(deployment: Deployment) -> None:
    d = deployment
    _catalogue(d.catalogue_a, d.upstream.base_url, extra=("late-model",))  # B's file stays as it was
    with httpx.Client(timeout=30) as c:
        assert "late-model" not in _models(c, d.b)
        r = c.post(d.a.base_url + "/admin/catalogue/reload")
        assert r.status_code == 200, r.text
        reloaded = time.monotonic()
        assert "late-model" in r.json()["ids"]
        while "late-model" not in _models(c, d.b):
            assert time.monotonic() - reloaded < 2.0, "gateway B did not see the reload within 2 s"
            time.sleep(0.02)
        seen_after = time.monotonic() - reloaded
        assert _ask(c, d.b, "late-model").status_code == 200  # and B serves it
    print(f"\ncatalogue reload on A seen by B after {seen_after * 1000:.0f} ms")


def _models(c: httpx.Client, gw: ServeProcess) -> set[str]:
    r = c.get(gw.base_url + "/v1/models")
    assert r.status_code == 200, r.text
    return {m["id"] for m in r.json()["data"]}


def test_a_pause_created_through_a_is_resumed_through_b(deployment: Deployment) -> None:
    d = deployment
    session = f"hitl-{uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=60) as c:
        r = c.post(d.a.base_url + "/api/chat", json={"content": "fix it", "session_id": session})
        assert r.status_code == 200, r.text
        paused = r.json()
        assert paused["interrupt"] is True and paused["question"], paused
        r = c.post(d.b.base_url + "/resume", json={"session_id": session, "reply": "the login() None check"})
        assert r.status_code == 200, r.text
        events = _sse(r.text)
        kinds = [e["type"] for e in events]
        assert kinds[0] == "started" and events[0]["data"]["resumed"] is True, kinds
        assert "final" in kinds and events[-1]["data"]["status"] == "completed", kinds
        final = next(e for e in events if e["type"] == "final")["data"]
        assert final["answer"] == "pong"
        # Nothing is left paused anywhere: resuming again through A is refused.
        again = c.post(d.a.base_url + "/resume", json={"session_id": session, "reply": "again"})
        assert again.status_code == 409, again.text


def _sse(text: str) -> list[dict[str, Any]]:
    import json

    out = []
    for block in text.split("\n\n"):
        data = "".join(ln[6:] for ln in block.splitlines() if ln.startswith("data: "))
        if data:
            out.append(json.loads(data))
    return out


async def _count(settings: Settings, model: Any, *where: Any) -> int:
    store = await open_store(settings, migrate=False)
    try:
        async with store.sessions() as s:
            return int((await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one())
    finally:
        await store.close()


async def _rows(settings: Settings, stmt: Any) -> list[Any]:
    store = await open_store(settings, migrate=False)
    try:
        async with store.sessions() as s:
            return list((await s.execute(stmt)).all())
    finally:
        await store.close()


async def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def test_500_work_orders_across_two_gateways_one_worker_killed_each_done_once(
    deployment: Deployment,
) -> None:
    d = deployment
    settings = d.settings
    assert all(w.poll() is None for w in d.workers), d.worker_log(0)
    started = time.monotonic()
    gateways = itertools.cycle((d.a, d.b))
    targets = [next(gateways) for _ in range(N_ORDERS)]
    accepted: list[dict[str, Any]] = []
    victim = d.workers[0]
    killed: dict[str, Any] = {}

    async def submit(c: httpx.AsyncClient, indices: Iterator[int]) -> None:
        for i in indices:
            r = await c.post(
                targets[i].base_url + "/api/work-orders",
                json={"content": "hello there", "priority": i % 3},
                headers={"x-request-id": f"wo-{i:04d}"},
            )
            assert r.status_code == 202, r.text
            accepted.append(r.json())

    async def kill_midway() -> None:
        done = (WorkOrder.status == "done", WorkOrder.job_id.is_not(None))
        await _wait(lambda: _at_least(settings, done, N_ORDERS // 3), 90, "a third of the orders done")
        [(victim_id,)] = await _rows(settings, select(Instance.id).where(Instance.pid == victim.pid))
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed["instance"] = victim_id
        killed["running"] = [
            r[0]
            for r in await _rows(
                settings, select(Job.id).where(Job.status == "running", Job.lease_owner == victim_id)
            )
        ]

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as c:
        indices = iter(range(N_ORDERS))
        await asyncio.gather(kill_midway(), *(submit(c, indices) for _ in range(8)))
    submitted_s = time.monotonic() - started
    assert len(accepted) == N_ORDERS and len({a["id"] for a in accepted}) == N_ORDERS
    assert killed["running"], "the SIGKILL should have caught work orders in flight"

    all_done = (WorkOrder.status == "done", WorkOrder.job_id.is_not(None))
    try:
        await _wait(lambda: _at_least(settings, all_done, N_ORDERS), 180, "all work orders done")
    except AssertionError:
        print(await _rows(settings, select(WorkOrder.status, func.count()).group_by(WorkOrder.status)))
        print(d.worker_log(1))
        raise
    elapsed = time.monotonic() - started

    # The queued work orders (the chat turns of the tests before this one have no job).
    orders = await _rows(
        settings,
        select(WorkOrder.id, WorkOrder.status, WorkOrder.answer, WorkOrder.job_id).where(
            WorkOrder.job_id.is_not(None)
        ),
    )
    jobs = await _rows(
        settings, select(Job.id, Job.status, Job.attempts, Job.result).where(Job.kind == "work_order")
    )
    # None lost, none duplicated: the 500 accepted orders and nothing else, each with one job.
    assert {o.id for o in orders} == {a["id"] for a in accepted}
    assert {o.job_id for o in orders} == {j.id for j in jobs} and len(jobs) == N_ORDERS
    # Done exactly once: every order answered, and exactly one attempt of each job committed its
    # effect (the job's result names its order; the effect and `done` share one transaction).
    assert {(o.status, o.answer) for o in orders} == {("done", "pong")}
    assert {j.status for j in jobs} == {"done"}
    assert sorted(j.result["work_order_id"] for j in jobs) == sorted(o.id for o in orders)
    # The dead-letter store is empty.
    assert await _count(settings, Job, Job.status.in_(("dead", "failed"))) == 0
    # The killed worker's orders were reclaimed and run again by the survivor.
    retried = {j.id for j in jobs if j.attempts >= 2}
    assert set(killed["running"]) <= retried
    assert victim.returncode == -signal.SIGKILL and d.workers[1].poll() is None
    print(
        f"\n{N_ORDERS} work orders over 2 gateways: accepted in {submitted_s:.1f}s, all done after "
        f"{elapsed:.1f}s; {len(killed['running'])} in flight on the killed worker, {len(retried)} retried; "
        f"upstream requests {len(d.upstream.requests)}"
    )


async def _at_least(settings: Settings, where: tuple[Any, ...], n: int) -> bool:
    return await _count(settings, WorkOrder, *where) >= n
