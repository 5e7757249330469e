from __future__ import annotations

import httpx
import pytest

from nexus.providers import registry
from nexus.providers.base import Provider, ProviderContext
from nexus.providers.errors import (
    ModelUnavailable,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from nexus.providers.types import ChatRequest
from nexus.testing import FakeOpenAI, Reply, ToolCall

from .conftest import KEYS, make_entry

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def req(text: str = "hello there", **kw: object) -> ChatRequest:
    return ChatRequest(model="client-name", messages=[{"role": "user", "content": text}], **kw)  # type: ignore[list-item]


def provider(fake: FakeOpenAI, ctx: ProviderContext, **kw: object) -> Provider:
    return registry.build(make_entry("openai", fake.base_url, **kw), ctx)


async def test_complete_sends_upstream_model_key_and_headers(
    fake_openai: FakeOpenAI, ctx: ProviderContext
) -> None:
    p = provider(fake_openai, ctx, headers={"X-Title": "Nexus"})
    assert isinstance(p, Provider)
    resp = await p.complete(req("what is up", temperature=0.2))
    assert resp.text == "Echo: what is up"
    assert resp.usage is not None and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    sent = fake_openai.last_request
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEYS['OPENAI_KEY']}"
    assert sent.headers["x-title"] == "Nexus"
    assert sent.json["model"] == "fake-model" and sent.json["temperature"] == 0.2
    assert "stream" not in sent.json
    assert p.estimate_cost(resp.usage) == pytest.approx(
        (resp.usage.prompt_tokens * 1.0 + resp.usage.completion_tokens * 2.0) / 1e6
    )


async def test_tools_and_response_format_pass_through_unchanged(
    fake_openai: FakeOpenAI, ctx: ProviderContext
) -> None:
    fake_openai.push(Reply(tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, id="call_9")]))
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    resp = await provider(fake_openai, ctx).complete(
        req(tools=TOOLS, tool_choice="required", response_format=fmt, seed=7)
    )
    sent = fake_openai.last_request.json
    assert sent["tools"] == TOOLS and sent["tool_choice"] == "required" and sent["response_format"] == fmt
    assert sent["seed"] == 7
    call = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call["id"] == "call_9" and call["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert resp.choices[0].finish_reason == "tool_calls"


async def test_stream_yields_chunks_and_final_usage(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    chunks = [c async for c in provider(fake_openai, ctx).stream(req("one two three"))]
    assert "".join(c.text for c in chunks) == "Echo: one two three"
    assert len(chunks) > 3
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    sent = fake_openai.last_request.json
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


async def test_stream_forces_usage_even_when_client_declined(
    fake_openai: FakeOpenAI, ctx: ProviderContext
) -> None:
    r = req(stream=True, stream_options={"include_usage": False})
    chunks = [c async for c in provider(fake_openai, ctx).stream(r)]
    assert fake_openai.last_request.json["stream_options"]["include_usage"] is True
    assert chunks[-1].usage is not None


async def test_429_carries_retry_after(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply.error(429, "slow down", retry_after=3))
    with pytest.raises(UpstreamHTTPError) as info:
        await provider(fake_openai, ctx).complete(req())
    err = info.value
    assert err.status == 429 and err.retryable and err.retry_after == 3.0
    assert "slow down" in err.message


async def test_retry_after_as_http_date(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply.error(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    with pytest.raises(UpstreamHTTPError) as info:
        await provider(fake_openai, ctx).complete(req())
    assert info.value.status == 503 and info.value.retry_after == 0.0


async def test_500_is_retryable_400_is_not(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply.error(500), Reply.error(400, "bad field"))
    p = provider(fake_openai, ctx)
    with pytest.raises(UpstreamHTTPError) as first:
        await p.complete(req())
    with pytest.raises(UpstreamHTTPError) as second:
        await p.complete(req())
    assert first.value.retryable and not second.value.retryable and second.value.status == 400


async def test_error_status_on_stream(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply.error(502, "bad gateway"))
    with pytest.raises(UpstreamHTTPError) as info:
        [c async for c in provider(fake_openai, ctx).stream(req())]
    assert info.value.status == 502


async def test_garbage_json_is_a_protocol_error(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply.garbage(), Reply(body={"unexpected": True}))
    p = provider(fake_openai, ctx)
    with pytest.raises(UpstreamProtocolError):
        await p.complete(req())
    with pytest.raises(UpstreamProtocolError):
        await p.complete(req())


async def test_in_band_error_object_is_an_http_error(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply(body={"error": {"message": "provider overloaded", "code": 503}}))
    with pytest.raises(UpstreamHTTPError) as info:
        await provider(fake_openai, ctx).complete(req())
    assert info.value.status == 503 and "provider overloaded" in info.value.message


async def test_garbage_chunk_is_a_protocol_error(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply(events=["{broken"]))
    with pytest.raises(UpstreamProtocolError):
        [c async for c in provider(fake_openai, ctx).stream(req())]


async def test_timeout_before_headers(fake_openai: FakeOpenAI) -> None:
    fake_openai.push(Reply(delay=1.0))
    async with httpx.AsyncClient(timeout=0.2) as http:
        p = provider(fake_openai, ProviderContext(http, KEYS.get))
        with pytest.raises(UpstreamTimeout) as info:
            await p.complete(req())
    assert info.value.retryable


async def test_connection_reset(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply.connection_reset())
    with pytest.raises(UpstreamConnectionError):
        await provider(fake_openai, ctx).complete(req())


async def test_reset_mid_stream_after_some_chunks(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply(text="a b c d e f", reset_after=3))
    got = []
    with pytest.raises(UpstreamConnectionError):
        async for c in provider(fake_openai, ctx).stream(req()):
            got.append(c)
    assert 1 <= len(got) <= 3


async def test_stream_cut_without_done_is_ended_early(fake_openai: FakeOpenAI, ctx: ProviderContext) -> None:
    fake_openai.push(Reply(text="a b c d", cut_after=3))
    with pytest.raises(UpstreamConnectionError, match="ended early"):
        [c async for c in provider(fake_openai, ctx).stream(req())]


async def test_missing_key_is_model_unavailable_without_leaking(
    fake_openai: FakeOpenAI, no_key_ctx: ProviderContext
) -> None:
    with pytest.raises(ModelUnavailable, match="OPENAI_KEY"):
        await provider(fake_openai, no_key_ctx).complete(req())
    assert fake_openai.requests == []


async def test_wrong_key_is_401_and_key_not_in_message(fake_openai: FakeOpenAI) -> None:
    async with httpx.AsyncClient() as http:
        p = provider(fake_openai, ProviderContext(http, lambda _: "sk-wrong-secret"))
        with pytest.raises(UpstreamHTTPError) as info:
            await p.complete(req())
    assert info.value.status == 401 and "sk-wrong-secret" not in str(info.value)


async def test_connect_refused_is_connection_error(ctx: ProviderContext) -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    p = registry.build(make_entry("openai", url), ctx)
    with pytest.raises(UpstreamConnectionError):
        await p.complete(req())


async def test_health_check(
    fake_openai: FakeOpenAI, ctx: ProviderContext, no_key_ctx: ProviderContext
) -> None:
    ok = await provider(fake_openai, ctx).health_check()
    assert ok.ok and ok.latency_ms is not None
    assert fake_openai.last_request.path == "/v1/models"
    missing = await provider(fake_openai, no_key_ctx).health_check()
    assert not missing.ok and "OPENAI_KEY" in missing.detail


async def test_ollama_needs_no_key(fake_openai: FakeOpenAI, no_key_ctx: ProviderContext) -> None:
    fake_openai.api_key = None
    try:
        entry = make_entry("ollama", fake_openai.base_url, api_key_env=None)
        p = registry.build(entry, no_key_ctx)
        resp = await p.complete(req("local"))
        chunks = [c async for c in p.stream(req("local"))]
        health = await p.health_check()
    finally:
        fake_openai.api_key = KEYS["OPENAI_KEY"]
    assert resp.text == "Echo: local" and chunks[-1].usage is not None and health.ok
    assert "authorization" not in fake_openai.last_request.headers


def test_every_builtin_adapter_registers() -> None:
    names = {"openai", "ollama", "anthropic", "gemini", "demo"}
    for name in names:
        assert callable(registry.get_factory(name))
    assert names <= set(registry.adapter_names())
