"""A real gateway (auth on, PostgreSQL in a fresh database per module) in front of scripted fake
upstreams over loopback HTTP: `fast` and `slow` models, and `writer`, the model smart agents and FAQ
extraction call (its replies are scripted per test)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import POSTGRES_URL, _need_service
from tests.jobs.helpers import FAST, postgres_database

from nexus.config.settings import Settings
from nexus.service.keys import create_api_key
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer, write_catalogue

UPSTREAM_KEY = "sk-test-faq-upstream-0123456789"


@dataclass
class Env:
    gw: GatewayServer
    fast: FakeOpenAI
    slow: FakeOpenAI
    writer: FakeOpenAI

    def client(self, tenant: str, role: str = "member") -> httpx.Client:
        token, _ = self.gw.call(create_api_key(self.gw.services.store, tenant=tenant, role=role))
        return httpx.Client(
            base_url=self.gw.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    _need_service("PostgreSQL", "127.0.0.1", 5432)
    cm = postgres_database(POSTGRES_URL, "faq_" + uuid.uuid4().hex[:10])
    loop = asyncio.new_event_loop()  # one loop throughout: asyncio.run would finalise the generator
    try:
        url = loop.run_until_complete(cm.__aenter__())
        try:
            yield url
        finally:
            loop.run_until_complete(cm.__aexit__(None, None, None))
    finally:
        loop.close()


@pytest.fixture(scope="module")
def env(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    d: Path = tmp_path_factory.mktemp("faq")
    with FakeOpenAI() as fast, FakeOpenAI() as slow, FakeOpenAI() as writer:
        cat = write_catalogue(
            d / "catalogue.yaml",
            [
                {"id": "fast", "base_url": fast.base_url, "api_key_env": "NEXUS_FAQ_KEY"},
                {"id": "slow", "base_url": slow.base_url, "api_key_env": "NEXUS_FAQ_KEY"},
                {"id": "writer", "base_url": writer.base_url, "api_key_env": "NEXUS_FAQ_KEY"},
            ],
            roles={"default": "writer"},
        )
        mp = pytest.MonkeyPatch()
        mp.setenv("NEXUS_FAQ_KEY", UPSTREAM_KEY)
        settings = Settings(
            data_dir=d,
            config=cat,
            database_url=database,
            auth="on",
            attempt_timeout_s=10,
            total_timeout_s=20,
            max_retries=0,
            **FAST,
        )
        try:
            with GatewayServer(settings) as gw:
                yield Env(gw, fast, slow, writer)
        finally:
            mp.undo()


@pytest.fixture(autouse=True)
def _fresh_scripts(env: Env) -> None:
    for f in (env.fast, env.slow, env.writer):
        f.clear()
