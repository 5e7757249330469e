"""Adapters against the fake upstreams, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from nexus.config.catalogue import ModelEntry
from nexus.providers.base import ProviderContext
from nexus.testing import FakeAnthropic, FakeGemini, FakeOpenAI

KEYS = {"OPENAI_KEY": "sk-test-openai", "ANTHROPIC_KEY": "sk-ant-test", "GEMINI_KEY": "gm-test"}


def make_entry(provider: str, base_url: str, model: str = "fake-model", **kw: Any) -> ModelEntry:
    fields: dict[str, Any] = {
        "id": f"{provider}-test",
        "provider": provider,
        "model": model,
        "base_url": base_url,
        "api_key_env": {"openai": "OPENAI_KEY", "anthropic": "ANTHROPIC_KEY", "gemini": "GEMINI_KEY"}.get(
            provider
        ),
        "input_price_per_mtok": 1.0,
        "output_price_per_mtok": 2.0,
        "context_window": 8192,
        "max_output_tokens": 1024,
    }
    fields.update(kw)
    return ModelEntry(**fields)


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEYS["OPENAI_KEY"]) as fake:
        yield fake


@pytest.fixture(scope="session")
def _anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=KEYS["ANTHROPIC_KEY"]) as fake:
        yield fake


@pytest.fixture(scope="session")
def _gemini_server() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEYS["GEMINI_KEY"]) as fake:
        yield fake


@pytest.fixture
def fake_openai(_openai_server: FakeOpenAI) -> FakeOpenAI:
    _openai_server.clear()
    return _openai_server


@pytest.fixture
def fake_anthropic(_anthropic_server: FakeAnthropic) -> FakeAnthropic:
    _anthropic_server.clear()
    return _anthropic_server


@pytest.fixture
def fake_gemini(_gemini_server: FakeGemini) -> FakeGemini:
    _gemini_server.clear()
    return _gemini_server


@pytest.fixture
async def ctx() -> AsyncIterator[ProviderContext]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        yield ProviderContext(http, KEYS.get)


@pytest.fixture
async def no_key_ctx() -> AsyncIterator[ProviderContext]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield ProviderContext(http, lambda name: None)
