"""A key with rpm=N gets exactly N requests through per window across TWO gateway processes that
share Redis (and one SQLite file for the keys); the rest are 429 with Retry-After and x-ratelimit-*."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from nexus.config.settings import Settings
from nexus.service.keys import create_api_key
from nexus.store import open_store
from nexus.testing.gateway import free_port

RPM = 7
_SERVE = """
import sys, uvicorn
from nexus.config.settings import Settings
from nexus.gateway.app import create_app
uvicorn.run(create_app(Settings()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


async def _make_key(settings: Settings) -> tuple[str, str]:
    store = await open_store(settings)
    try:
        token, row = await create_api_key(store, tenant="burst", role="member", rpm=RPM)
    finally:
        await store.close()
    return token, row.id  # type: ignore[attr-defined]


@pytest.fixture
def two_gateways(tmp_path: Path, redis_url: str) -> Iterator[tuple[list[str], str]]:
    settings = Settings(data_dir=tmp_path, demo=True, redis_url=redis_url)
    token, key_id = asyncio.run(_make_key(settings))
    env = {**os.environ, "NEXUS_DATA_DIR": str(tmp_path), "NEXUS_DEMO": "true", "NEXUS_REDIS_URL": redis_url}
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-c", _SERVE, str(p)], env=env) for p in ports]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 60
        for url in urls:
            while True:
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "gateway process did not start"
                time.sleep(0.1)
        yield urls, token
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        r = redis.Redis.from_url(redis_url)
        # only this test's keys: the limiter keys embed the key row id
        for k in r.scan_iter(match=f"nexus:rl:*{key_id}*"):
            r.delete(k)
        r.close()


async def _burst(urls: list[str], token: str, n: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    # Limits count model work: a chat turn on a (simulated, instant) model.
    body = {"model": "llama-3.1-8b-groq", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    async with httpx.AsyncClient(timeout=20) as client:
        return await asyncio.gather(
            *(client.post(urls[i % 2] + "/v1/chat/completions", headers=headers, json=body) for i in range(n))
        )


def test_burst_across_two_processes_lets_exactly_rpm_through(two_gateways: tuple[list[str], str]) -> None:
    urls, token = two_gateways
    responses = asyncio.run(_burst(urls, token, RPM * 3))
    ok = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(ok) == RPM and len(limited) == RPM * 2
    assert {r.url.port for r in responses} == {int(u.rsplit(":", 1)[1]) for u in urls}  # both served
    for r in limited:
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["x-ratelimit-limit-requests"] == str(RPM)
        assert r.headers["x-ratelimit-remaining-requests"] == "0"
        assert "x-ratelimit-reset-requests" in r.headers
        err = r.json()["error"]
        assert err["type"] == "rate_limit_error" and err["code"] == "rate_limit_exceeded" and err["message"]
