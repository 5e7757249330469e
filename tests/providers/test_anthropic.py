from __future__ import annotations

import orjson
import pytest

from nexus.providers import registry
from nexus.providers.base import Provider, ProviderContext
from nexus.providers.errors import (
    ModelUnavailable,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamProtocolError,
)
from nexus.providers.types import ChatRequest
from nexus.testing import FakeAnthropic, Reply, ToolCall

from .conftest import KEYS, make_entry

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a thing up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
PNG = "data:image/png;base64,iVBORw0KGgo="


def provider(fake: FakeAnthropic, ctx: ProviderContext) -> Provider:
    return registry.build(make_entry("anthropic", fake.url, model="claude-fake", max_output_tokens=2048), ctx)


def chat(messages: list[dict[str, object]], **kw: object) -> ChatRequest:
    return ChatRequest(model="x", messages=messages, **kw)  # type: ignore[arg-type]


async def test_request_translation(fake_anthropic: FakeAnthropic, ctx: ProviderContext) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use metric."},
        {"role": "user", "content": "first"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": PNG}}],
        },
        {
            "role": "assistant",
            "content": "calling",
            "tool_calls": [
                {"id": "tu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"x"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "tu_1", "content": "result text"},
    ]
    await provider(fake_anthropic, ctx).complete(
        chat(
            messages,
            tools=TOOLS,
            tool_choice="required",
            stop="END",
            temperature=1.5,
            top_p=0.9,
            max_tokens=99999,
        )
    )
    sent = fake_anthropic.last_request
    assert sent.path == "/v1/messages"
    assert (
        sent.headers["x-api-key"] == KEYS["ANTHROPIC_KEY"]
        and sent.headers["anthropic-version"] == "2023-06-01"
    )
    body = sent.json
    assert body["model"] == "claude-fake" and body["system"] == "Be brief.\n\nUse metric."
    assert body["max_tokens"] == 2048  # capped at the entry's limit
    assert body["stop_sequences"] == ["END"] and body["temperature"] == 1.0 and body["top_p"] == 0.9
    assert body["tools"] == [
        {
            "name": "lookup",
            "description": "Look a thing up",
            "input_schema": TOOLS[0]["function"]["parameters"],
        }  # type: ignore[index]
    ]
    assert body["tool_choice"] == {"type": "any"}
    user, assistant, result = body["messages"]
    assert user["role"] == "user" and [b["type"] for b in user["content"]] == ["text", "text", "image"]
    assert user["content"][2]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    assert assistant["content"] == [
        {"type": "text", "text": "calling"},
        {"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {"q": "x"}},
    ]
    assert result == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "result text"}],
    }


async def test_named_tool_choice_and_default_max_tokens(
    fake_anthropic: FakeAnthropic, ctx: ProviderContext
) -> None:
    choice = {"type": "function", "function": {"name": "lookup"}}
    await provider(fake_anthropic, ctx).complete(
        chat([{"role": "user", "content": "q"}], tools=TOOLS, tool_choice=choice)
    )
    body = fake_anthropic.last_request.json
    assert body["tool_choice"] == {"type": "tool", "name": "lookup"} and body["max_tokens"] == 2048
    assert "system" not in body


async def test_response_translation(fake_anthropic: FakeAnthropic, ctx: ProviderContext) -> None:
    fake_anthropic.push(
        Reply(text="hi", tool_calls=[ToolCall("lookup", {"q": "y"}, id="tu_2")], usage=(11, 7))
    )
    resp = await provider(fake_anthropic, ctx).complete(chat([{"role": "user", "content": "q"}]))
    msg = resp.choices[0].message
    assert msg.content == "hi"
    assert msg.tool_calls == [
        {"id": "tu_2", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"y"}'}}
    ]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.usage is not None and (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 7)


@pytest.mark.parametrize(("native", "ours"), [("length", "length"), ("stop", "stop")])
async def test_stop_reasons(
    fake_anthropic: FakeAnthropic, ctx: ProviderContext, native: str, ours: str
) -> None:
    fake_anthropic.push(Reply(text="x", finish_reason=native))
    resp = await provider(fake_anthropic, ctx).complete(chat([{"role": "user", "content": "q"}]))
    assert resp.choices[0].finish_reason == ours


async def test_stream_translation(fake_anthropic: FakeAnthropic, ctx: ProviderContext) -> None:
    fake_anthropic.push(
        Reply(text="alpha beta", tool_calls=[ToolCall("lookup", {"q": "z"}, id="tu_3")], usage=(5, 9))
    )
    chunks = [c async for c in provider(fake_anthropic, ctx).stream(chat([{"role": "user", "content": "q"}]))]
    assert fake_anthropic.last_request.json["stream"] is True
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.text for c in chunks) == "alpha beta"
    calls = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or []]
    assert calls[0]["id"] == "tu_3" and calls[0]["function"]["name"] == "lookup"
    args = "".join(tc["function"]["arguments"] for tc in calls)
    assert orjson.loads(args) == {"q": "z"} and {tc["index"] for tc in calls} == {0}
    finishes = [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 9)


async def test_stream_error_event(fake_anthropic: FakeAnthropic, ctx: ProviderContext) -> None:
    start = {"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 1}}}
    err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake_anthropic.push(Reply(events=[start, err]))
    with pytest.raises(UpstreamHTTPError) as info:
        [c async for c in provider(fake_anthropic, ctx).stream(chat([{"role": "user", "content": "q"}]))]
    assert info.value.status == 529 and info.value.retryable and "Overloaded" in info.value.message


async def test_overloaded_529_is_retryable(fake_anthropic: FakeAnthropic, ctx: ProviderContext) -> None:
    fake_anthropic.push(Reply.error(529, "Overloaded", retry_after=1))
    with pytest.raises(UpstreamHTTPError) as info:
        await provider(fake_anthropic, ctx).complete(chat([{"role": "user", "content": "q"}]))
    assert info.value.retryable and info.value.retry_after == 1.0
    assert "overloaded_error" in info.value.message


async def test_stream_cut_and_reset(fake_anthropic: FakeAnthropic, ctx: ProviderContext) -> None:
    p = provider(fake_anthropic, ctx)
    fake_anthropic.push(Reply(text="a b c", cut_after=4), Reply(text="a b c", reset_after=3))
    with pytest.raises(UpstreamConnectionError, match="ended early"):
        [c async for c in p.stream(chat([{"role": "user", "content": "q"}]))]
    with pytest.raises(UpstreamConnectionError):
        [c async for c in p.stream(chat([{"role": "user", "content": "q"}]))]


async def test_garbage_and_missing_key(
    fake_anthropic: FakeAnthropic, ctx: ProviderContext, no_key_ctx: ProviderContext
) -> None:
    fake_anthropic.push(Reply.garbage(), Reply(body={"type": "message"}))
    p = provider(fake_anthropic, ctx)
    with pytest.raises(UpstreamProtocolError):
        await p.complete(chat([{"role": "user", "content": "q"}]))
    with pytest.raises(UpstreamProtocolError):
        await p.complete(chat([{"role": "user", "content": "q"}]))
    with pytest.raises(ModelUnavailable):
        await provider(fake_anthropic, no_key_ctx).complete(chat([{"role": "user", "content": "q"}]))


async def test_health(fake_anthropic: FakeAnthropic, ctx: ProviderContext) -> None:
    health = await provider(fake_anthropic, ctx).health_check()
    assert health.ok and fake_anthropic.last_request.path == "/v1/models"
