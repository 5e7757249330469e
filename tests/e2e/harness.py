"""Shared pieces of the end-to-end tests: the catalogue over a fake upstream with known usage per
reply, a concurrent client that records who got an answer and when, the gateway as a real
`nexus serve` subprocess (so it can be killed with SIGKILL), and reading the work orders back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from nexus.config.settings import Settings
from nexus.store import open_store
from nexus.store.models import ModelCall, WorkOrder
from nexus.testing.gateway import free_port, write_catalogue

# Every reply of the fake upstream reports this usage, so totals are known exactly.
PROMPT_TOKENS, COMPLETION_TOKENS = 120, 45
INPUT_PRICE, OUTPUT_PRICE = 3.0, 15.0  # USD per million tokens
KEY_ENV = "NEXUS_E2E_UPSTREAM_KEY"
KEY = "sk-e2e-upstream-0123456789"


def catalogue(
    path: Path, upstreams: dict[str, str], prices: dict[str, tuple[float, float]] | None = None
) -> Path:
    """One catalogue model per (id → fake base URL), at the known prices unless `prices` says otherwise.

    Each model gets a tag of its own: the hub falls back across models that share a tag, and these
    tests count calls per model.
    """
    prices = prices or {}
    return write_catalogue(
        path,
        [
            {
                "id": model_id,
                "model": f"up-{model_id}",
                "base_url": base_url,
                "api_key_env": KEY_ENV,
                "tags": [model_id],
                "input_price_per_mtok": prices.get(model_id, (INPUT_PRICE, OUTPUT_PRICE))[0],
                "output_price_per_mtok": prices.get(model_id, (INPUT_PRICE, OUTPUT_PRICE))[1],
            }
            for model_id, base_url in upstreams.items()
        ],
    )


def unit_cost(input_price: float = INPUT_PRICE, output_price: float = OUTPUT_PRICE) -> float:
    """What one reply of the fake costs at these prices."""
    return (PROMPT_TOKENS * input_price + COMPLETION_TOKENS * output_price) / 1e6


@dataclass(slots=True)
class Outcome:
    request_id: str
    sent_at: float | None = None  # time.monotonic() when the request went out
    status: int | None = None  # None: no answer (the connection failed or the call was cancelled)
    answered_at: float | None = None  # time.monotonic() when the whole answer had arrived


def outcomes(prefix: str, n: int) -> list[Outcome]:
    return [Outcome(f"{prefix}-{i:05d}") for i in range(n)]


async def ask(client: httpx.AsyncClient, base_url: str, model: str, outcome: Outcome) -> Outcome:
    """One chat completion with our own X-Request-ID; fills `outcome` in place (also on failure)."""
    body = {"model": model, "messages": [{"role": "user", "content": f"ping {outcome.request_id}"}]}
    outcome.sent_at = time.monotonic()
    try:
        r = await client.post(
            base_url + "/v1/chat/completions", json=body, headers={"x-request-id": outcome.request_id}
        )
    except httpx.HTTPError:
        return outcome
    outcome.status = r.status_code
    outcome.answered_at = time.monotonic()
    assert r.headers.get("x-request-id") == outcome.request_id
    return outcome


async def burst(
    client: httpx.AsyncClient, base_url: str, model: str, outcomes: list[Outcome], concurrency: int
) -> list[Outcome]:
    """One request per outcome with `concurrency` in flight. The caller holds `outcomes`, so a burst
    cancelled half-way (the kill test) still tells which requests went out and which were answered."""
    pending = iter(outcomes)

    async def worker() -> None:
        for outcome in pending:
            await ask(client, base_url, model, outcome)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


def client(concurrency: int, timeout: float = 30.0) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=timeout, limits=limits)


# ---- the gateway as a process --------------------------------------------------------------------


class ServeProcess:
    """`python -m nexus.cli.main serve --no-ui` on a free port; its output goes to a log file."""

    def __init__(self, catalogue_path: Path, data_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.catalogue = catalogue_path
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "NEXUS_AUTH": "off",
            KEY_ENV: KEY,
            "NEXUS_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log = data_dir / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ServeProcess:
        argv = [sys.executable, "-m", "nexus.cli.main", "serve", "--no-ui", "--port", str(self.port)]
        argv += ["--config", str(self.catalogue), "--data-dir", str(self.data_dir)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nexus serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            if _port_open(self.port):
                try:
                    if httpx.get(self.base_url + "/health", timeout=2.0).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"nexus serve did not answer /health in {timeout}s:\n{self.log_tail()}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown drains the accounting queue), SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# ---- databases ---------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_postgres_database(url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of `url`, dropped afterwards; yields its SQLAlchemy URL.

    A database rather than a schema: the gateway opens its store from the URL alone, and a URL cannot
    carry asyncpg's search_path server setting.
    """
    name = f"nexus_e2e_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def read_rows(settings: Settings) -> tuple[list[WorkOrder], list[ModelCall]]:
    """Every work order and model call in the settings' database, read straight from the tables."""
    store = await open_store(settings, migrate=False)
    try:
        async with store.sessions() as s:
            orders = list((await s.execute(select(WorkOrder))).scalars())
            calls = list((await s.execute(select(ModelCall))).scalars())
        return orders, calls
    finally:
        await store.close()


def by_request_id(orders: Iterable[WorkOrder]) -> dict[str, WorkOrder]:
    out: dict[str, WorkOrder] = {}
    for o in orders:
        assert o.request_id not in out, f"two work orders for request {o.request_id}"
        out[o.request_id] = o
    return out
