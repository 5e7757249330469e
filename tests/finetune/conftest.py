"""A real gateway (PostgreSQL, a fresh database per module; the embedded job engine) in front of
FakeFineTuning, which speaks OpenAI's Files and fine-tuning protocol over loopback HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import POSTGRES_URL, _need_service
from tests.jobs.helpers import FAST, postgres_database

from nexus.config.settings import Settings
from nexus.finetune import FineTuneService
from nexus.testing.fake_finetune import FakeFineTuning
from nexus.testing.gateway import GatewayServer, write_catalogue

UPSTREAM_KEY = "sk-test-finetune-upstream-0123456789"


def pairs(n: int = 12, topic: str = "billing") -> list[dict[str, str]]:
    return [
        {"question": f"How do I change {topic} item {i}?", "answer": f"Open settings, then {topic} {i}."}
        for i in range(n)
    ]


def wait_for(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value: {value}")
        time.sleep(0.05)
        value = fetch()
    return value


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeFineTuning]:
    with FakeFineTuning(api_key=UPSTREAM_KEY) as f:
        yield f  # type: ignore[misc]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    _need_service("PostgreSQL", "127.0.0.1", 5432)
    name = "ft_" + uuid.uuid4().hex[:10]
    cm = postgres_database(POSTGRES_URL, name)
    loop = asyncio.new_event_loop()
    url = loop.run_until_complete(cm.__aenter__())
    try:
        yield url
    finally:
        loop.run_until_complete(cm.__aexit__(None, None, None))
        loop.close()


@pytest.fixture(scope="module")
def settings(
    fake: FakeFineTuning, database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    d: Path = tmp_path_factory.mktemp("ft")
    cat = write_catalogue(
        d / "catalogue.yaml",
        [
            {
                "id": "base",
                "model": "gpt-4o-mini-2024-07-18",
                "base_url": fake.base_url,
                "tags": ["general", "fine-tuning"],
                "api_key_env": "NEXUS_FT_KEY",
            },
            {"id": "other", "model": "other-up", "base_url": fake.base_url, "api_key_env": "NEXUS_FT_KEY"},
        ],
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_FT_KEY", UPSTREAM_KEY)
    mp.setattr(FineTuneService, "poll_s", 0.05)
    mp.setattr(FineTuneService, "poll_max_s", 0.1)
    yield Settings(
        data_dir=d,
        config=cat,
        database_url=database,
        auth="off",
        attempt_timeout_s=2,
        total_timeout_s=10,
        max_retries=0,
        **FAST,
    )
    mp.undo()


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Iterator[GatewayServer]:
    with GatewayServer(settings) as gw:
        yield gw


@pytest.fixture
def api(gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
        yield c
