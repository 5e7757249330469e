# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""SIGTERM to the real gateway (its own process, served like `nexus serve`) with 50 streams — explicit
model and nexus-auto — each far longer than the shutdown bound: the process is gone within the bound
+ 2 s, every stream ends with the shutdown error event, and every cut stream's work order says
`interrupted` with the tokens produced up to the cut."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import read_rows
from tests.pipeline.conftest import _fresh, classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, write_test_catalogue

from nexus.config.settings import Settings
from nexus.providers.tokens import estimate_tokens
from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import free_port

from .gateway_env import POEM

SCRIPT = Path(__file__).with_name("gateway_serve.py")
ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 3.0
STREAMS = 50
WORDS = " ".join(f"word{i}" for i in range(2000))


def start(tmp: Path, fakes: dict[str, FakeOpenAI], cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    cat = write_test_catalogue(tmp / "catalogue.yaml", fakes, subtask_timeout_s=60.0)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "NEXUS_TEST_KEY": TEST_KEY,
        "HF_HUB_OFFLINE": "1",
    }
    argv = [sys.executable, str(SCRIPT), str(tmp), str(cat), str(port), str(GRACE_S), str(cache)]
    proc = subprocess.Popen(argv, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("the gateway did not start")


async def stream(
    client: httpx.AsyncClient, url: str, model: str, rid: str, flowing: list[str], all_flowing: asyncio.Event
) -> list[str]:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": POEM}]}
    lines: list[str] = []
    async with client.stream(
        "POST", url + "/v1/chat/completions", json=body, headers={"x-request-id": rid}
    ) as r:
        assert r.status_code == 200, await r.aread()
        async for line in r.aiter_lines():
            if not line:
                continue
            lines.append(line)
            if "word" in line and rid not in flowing:
                flowing.append(rid)
                if len(flowing) == STREAMS:
                    all_flowing.set()
    return lines


@pytest.mark.slow
async def test_sigterm_cuts_streams_at_the_bound_and_marks_their_work_orders_interrupted(
    tmp_path: Path, fakes: dict[str, FakeOpenAI], classifier_cache: Path
) -> None:
    # Every answer is 2,000 words at 5 per second: 400 s, far beyond the 3 s bound (and a light load).
    fakes["general"].policy = lambda req: Reply(text=WORDS, chunk_delay=0.2)
    proc, url = start(tmp_path, fakes, classifier_cache)
    try:
        flowing: list[str] = []
        all_flowing = asyncio.Event()
        limits = httpx.Limits(max_connections=STREAMS + 5)
        rids = {
            f"term-{'explicit' if i % 2 else 'auto'}-{i:02d}": "general" if i % 2 else "nexus-auto"
            for i in range(STREAMS)
        }
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            tasks = [
                asyncio.create_task(stream(client, url, m, rid, flowing, all_flowing))
                for rid, m in rids.items()
            ]
            await asyncio.wait_for(all_flowing.wait(), 60)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            results = await asyncio.gather(*tasks)
            code = await asyncio.to_thread(proc.wait, 30)
            took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(
        f"\nSIGTERM with {STREAMS} streams of 400 s, bound {GRACE_S:g} s: the gateway exited after {took:.2f} s"
    )
    assert took <= GRACE_S + 2.0, took
    assert code in (0, -signal.SIGTERM)
    for lines in results:
        assert lines[-1] == "data: [DONE]" and "server_shutting_down" in lines[-2], lines[-3:]
    orders, _ = await read_rows(Settings(data_dir=tmp_path))
    rows = {o.request_id: o for o in orders if o.request_id in rids}
    assert set(rows) == set(rids)
    summary = [(o.request_id, o.status, o.tokens_out) for o in rows.values()]
    assert all(o.status == "interrupted" for o in rows.values()), summary
    assert all(o.tokens_in > 0 and o.tokens_out > 0 and o.cost_usd > 0 for o in rows.values()), summary
    assert all(
        o.tokens_out < estimate_tokens(WORDS) for o in rows.values()
    )  # up to the cut, not whole answers
