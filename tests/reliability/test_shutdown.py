"""SIGTERM: stop accepting, let streams run up to the bound, end the rest with an error event, exit in time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import nexus
from nexus.testing.gateway import free_port

APP = Path(__file__).with_name("edge_app.py")
SRC = Path(nexus.__file__).resolve().parents[1]


@pytest.fixture
def start_server() -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(grace_s: float) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, str(APP), str(port), str(grace_s)], env=env)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/hello", timeout=1).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError("the edge app did not start")

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


async def open_stream(
    client: httpx.AsyncClient, url: str, started: asyncio.Event, counter: list[int], n: int
) -> list[str]:
    events: list[str] = []
    async with client.stream("GET", url) as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if not line:
                continue
            events.append(line)
            if len(events) == 1:
                counter[0] += 1
                if counter[0] == n:
                    started.set()
    return events


async def test_sigterm_ends_streams_longer_than_the_bound_with_an_error_event(start_server) -> None:  # type: ignore[no-untyped-def]
    grace = 2.0
    proc, url = start_server(grace)
    n = 50
    started = asyncio.Event()
    counter = [0]
    limits = httpx.Limits(max_connections=n + 10)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        # Each stream would last 20 s.
        tasks = [
            asyncio.create_task(
                open_stream(client, url + "/stream?n=1000&interval=0.02", started, counter, n)
            )
            for _ in range(n)
        ]
        await asyncio.wait_for(started.wait(), 30)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        with pytest.raises(httpx.ConnectError):  # no longer accepting
            await client.get(url + "/hello", timeout=2)
        results = await asyncio.gather(*tasks)
    code = await asyncio.to_thread(proc.wait, 30)
    took = time.monotonic() - t0
    print(f"\nSIGTERM with {n} streams of 20 s, bound {grace:g} s: the process exited after {took:.2f} s")
    assert took <= grace + 2.0, took
    assert code in (0, -signal.SIGTERM)
    for events in results:
        assert events[-1] == "data: [DONE]"
        assert "server_shutting_down" in events[-2], events[-3:]
        assert len(events) > grace / 0.02 * 0.5  # it really streamed through the bound


async def test_sigterm_lets_streams_shorter_than_the_bound_finish(start_server) -> None:  # type: ignore[no-untyped-def]
    proc, url = start_server(5.0)
    n = 10
    started = asyncio.Event()
    counter = [0]
    async with httpx.AsyncClient(timeout=60) as client:
        tasks = [
            asyncio.create_task(open_stream(client, url + "/stream?n=50&interval=0.02", started, counter, n))
            for _ in range(n)
        ]
        await asyncio.wait_for(started.wait(), 30)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*tasks)
    await asyncio.to_thread(proc.wait, 30)
    assert time.monotonic() - t0 < 4.0  # it did not wait for the bound once the streams were done
    for events in results:
        assert len(events) == 51 and events[-1] == "data: [DONE]"
        assert not any("server_shutting_down" in e for e in events)
