"""The hub's availability, fallback chains and retry policy, with throwaway providers registered per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexus.config.catalogue import ModelEntry, parse_catalogue
from nexus.config.settings import Settings
from nexus.providers import registry
from nexus.providers.base import CostMixin, ProviderContext
from nexus.providers.errors import AllProvidersFailed, ModelUnavailable, UpstreamHTTPError
from nexus.providers.hub import ModelHub, UnknownModel
from nexus.providers.metering import CallRecord, call_context
from nexus.providers.types import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Health,
    ResponseMessage,
    Usage,
)

# Per-model scripts: a list of outcomes consumed one per call ("ok" or an HTTP status).
SCRIPTS: dict[str, list[object]] = {}
CALLS: list[str] = []


class Scripted(CostMixin):
    def __init__(self, entry: ModelEntry, ctx: ProviderContext) -> None:
        self.entry = entry

    def _next(self) -> None:
        CALLS.append(self.entry.id)
        script = SCRIPTS.get(self.entry.id, [])
        outcome = script.pop(0) if script else "ok"
        if isinstance(outcome, int):
            raise UpstreamHTTPError(
                "scripted failure",
                status=outcome,
                provider="scripted",
                model=self.entry.id,
                retry_after=0.0 if outcome == 429 else None,
            )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self._next()
        return ChatResponse(
            model=self.entry.model,
            choices=[Choice(message=ResponseMessage(content="hi"))],
            usage=Usage.of(10, 5),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self._next()
        yield ChatChunk(id="c", model=self.entry.model, choices=[ChunkChoice(delta=Delta(content="hi"))])
        yield ChatChunk(id="c", model=self.entry.model, choices=[], usage=Usage.of(10, 5))

    async def health_check(self) -> Health:
        return Health(ok=True)


registry.register("scripted", Scripted)

CATALOGUE = """
models:
  - {id: a, provider: scripted, model: up-a, api_key_env: KEY_A, input_price_per_mtok: 1, output_price_per_mtok: 2,
     context_window: 1000, tags: [x], fallbacks: [b]}
  - {id: b, provider: scripted, model: up-b, api_key_env: KEY_B, input_price_per_mtok: 1, output_price_per_mtok: 2,
     context_window: 1000, tags: [x]}
  - {id: c, provider: scripted, model: up-c, api_key_env: KEY_MISSING, input_price_per_mtok: 1,
     output_price_per_mtok: 2, context_window: 1000, tags: [x]}
"""


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModelHub:
    monkeypatch.setenv("KEY_A", "secret-a")
    monkeypatch.setenv("KEY_B", "secret-b")
    monkeypatch.delenv("KEY_MISSING", raising=False)
    SCRIPTS.clear()
    CALLS.clear()
    h = ModelHub(Settings(data_dir=tmp_path, retry_base_delay_s=0.001, max_retries=2))
    h.load(parse_catalogue(CATALOGUE))
    return h


def _req() -> ChatRequest:
    return ChatRequest(model="a", messages=[ChatMessage(role="user", content="hello")])


def test_models_without_keys_are_listed_unavailable_not_removed(hub: ModelHub) -> None:
    assert hub.catalogue.ids == ["a", "b", "c"]
    assert hub.is_available("a") and not hub.is_available("c")
    assert not hub.demo
    with pytest.raises(ModelUnavailable, match="KEY_MISSING"):
        hub.provider("c")
    with pytest.raises(UnknownModel):
        hub.provider("zzz")


async def test_retry_then_success_and_metering(hub: ModelHub) -> None:
    records: list[CallRecord] = []
    hub.meter.subscribe(records.append)
    SCRIPTS["a"] = [500, 429]
    token = call_context.set({"role": "worker", "tenant": "t1"})
    try:
        resp = await hub.complete("a", _req())
    finally:
        call_context.reset(token)
    assert resp.text == "hi" and resp.model == "a"
    assert CALLS == ["a", "a", "a"]
    assert len(records) == 1 and records[0].success and records[0].tenant == "t1"
    assert records[0].cost_usd == pytest.approx((10 * 1 + 5 * 2) / 1e6)


async def test_fallback_after_retries_exhausted(hub: ModelHub) -> None:
    fallbacks: list[tuple[str, str]] = []
    hub.on_fallback.append(lambda f, t, e: fallbacks.append((f, t)))
    SCRIPTS["a"] = [503, 503, 503]
    resp = await hub.complete("a", _req())
    assert resp.model == "b" and fallbacks == [("a", "b")]


async def test_non_retryable_error_moves_to_fallback_at_once(hub: ModelHub) -> None:
    SCRIPTS["a"] = [400]
    resp = await hub.complete("a", _req())
    assert resp.model == "b" and CALLS == ["a", "b"]


async def test_all_failed_carries_every_error(hub: ModelHub) -> None:
    SCRIPTS["a"] = [500] * 3
    SCRIPTS["b"] = [500] * 3
    with pytest.raises(AllProvidersFailed) as exc:
        await hub.complete("a", _req())
    assert len(exc.value.errors) == 2


async def test_stream_falls_back_before_first_chunk(hub: ModelHub) -> None:
    SCRIPTS["a"] = [502, 502, 502]
    chunks = [c async for c in hub.stream("a", _req())]
    assert chunks[0].model == "b" and chunks[0].text == "hi" and chunks[-1].usage is not None


def test_invalid_reload_keeps_running_catalogue(hub: ModelHub, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        CATALOGUE.replace(
            "input_price_per_mtok: 1, output_price_per_mtok: 2,\n     context_window",
            "input_price_per_mtok: oops, output_price_per_mtok: 2,\n     context_window",
        )
    )
    from nexus.config.catalogue import CatalogueError

    with pytest.raises(CatalogueError, match="input_price_per_mtok"):
        hub.reload(bad)
    assert hub.catalogue.ids == ["a", "b", "c"]


def test_no_keys_means_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k in ("KEY_A", "KEY_B", "KEY_MISSING"):
        monkeypatch.delenv(k, raising=False)
    h = ModelHub(Settings(data_dir=tmp_path))
    h.load(parse_catalogue(CATALOGUE))
    assert h.demo and all(m.simulated for m in h.catalogue.models)
    assert h.available_ids() == {"a", "b", "c"}
