"""Two fake OpenAI upstreams over loopback HTTP and a hub whose m1 falls back to m2.

The upstream-fault tests drive the hub directly (bench/bench_faults.py runs the same probe through the
gateway); the disconnect, session-id, shutdown and OpenAPI tests go through the real gateway over real
HTTP (gateway_env.py, gateway_serve.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nexus.config.catalogue import parse_catalogue
from nexus.config.settings import Settings
from nexus.providers.hub import ModelHub
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import catalogue_yaml

KEY = "sk-reliability-test"


@pytest.fixture(scope="session")
def _m1() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def _m2() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def m1(_m1: FakeOpenAI) -> Iterator[FakeOpenAI]:
    _m1.clear()
    yield _m1
    _m1.clear()


@pytest.fixture
def m2(_m2: FakeOpenAI) -> Iterator[FakeOpenAI]:
    _m2.clear()
    yield _m2
    _m2.clear()


def make_hub(m1: FakeOpenAI, m2: FakeOpenAI, tmp_path: Path, **settings: object) -> ModelHub:
    text = catalogue_yaml(
        [
            {"id": "m1", "model": "fake-model", "base_url": m1.base_url, "fallbacks": ["m2"], "tags": ["a"]},
            {"id": "m2", "model": "fake-model", "base_url": m2.base_url, "tags": ["b"]},
        ]
    )
    base: dict[str, object] = {"data_dir": tmp_path, "retry_base_delay_s": 0.01, "retry_max_delay_s": 1.0}
    hub = ModelHub(Settings(**{**base, **settings}))  # type: ignore[arg-type]
    hub.load(parse_catalogue(text))
    return hub


@pytest.fixture
async def hub(
    m1: FakeOpenAI, m2: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ModelHub]:
    monkeypatch.setenv("NEXUS_TEST_KEY", KEY)
    h = make_hub(m1, m2, tmp_path, max_retries=1)
    yield h
    await h.aclose()
