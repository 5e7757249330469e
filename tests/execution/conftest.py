"""Fixtures: scripted HTTP fakes on loopback, an engine that trusts only the fakes a test names."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.store.helpers import BACKENDS, open_test_store

from nexus.execution import EgressPolicy, EngineSettings, ExecutionAudit, ExecutionEngine
from nexus.store import Store
from nexus.testing.fake_http import FakeHTTP

FAST = EngineSettings(timeout_s=2.0, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.05)


@pytest.fixture
def fake() -> Iterator[FakeHTTP]:
    with FakeHTTP() as f:
        yield f  # type: ignore[misc]


@pytest.fixture
def other() -> Iterator[FakeHTTP]:
    """A second loopback server that no policy trusts: reaching it would be an SSRF."""
    with FakeHTTP() as f:
        yield f  # type: ignore[misc]


@pytest.fixture
def audits() -> list[ExecutionAudit]:
    return []


@pytest.fixture
async def engine(fake: FakeHTTP, audits: list[ExecutionAudit]) -> AsyncIterator[ExecutionEngine]:
    e = ExecutionEngine(EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), audit=audits.append, settings=FAST)
    yield e
    await e.aclose()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(request.param, tmp_path, request) as s:
        yield s
