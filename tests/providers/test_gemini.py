from __future__ import annotations

import orjson
import pytest

from nexus.providers import registry
from nexus.providers.base import Provider, ProviderContext
from nexus.providers.errors import UpstreamConnectionError, UpstreamHTTPError, UpstreamProtocolError
from nexus.providers.types import ChatRequest
from nexus.testing import FakeGemini, Reply, ToolCall

from .conftest import KEYS, make_entry

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather by city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "additionalProperties": False,
            },
        },
    }
]


def provider(fake: FakeGemini, ctx: ProviderContext) -> Provider:
    return registry.build(make_entry("gemini", fake.base_url, model="gemini-fake"), ctx)


def chat(messages: list[dict[str, object]], **kw: object) -> ChatRequest:
    return ChatRequest(model="x", messages=messages, **kw)  # type: ignore[arg-type]


async def test_request_translation(fake_gemini: FakeGemini, ctx: ProviderContext) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 3}'},
        {"role": "tool", "tool_call_id": "c1", "content": "plain text"},
    ]
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    await provider(fake_gemini, ctx).complete(
        chat(
            messages,
            temperature=0.3,
            top_p=0.5,
            max_tokens=100,
            stop=["X"],
            tools=TOOLS,
            tool_choice="auto",
            response_format=fmt,
        )
    )
    sent = fake_gemini.last_request
    assert sent.path == "/v1beta/models/gemini-fake:generateContent"
    assert sent.headers["x-goog-api-key"] == KEYS["GEMINI_KEY"]
    body = sent.json
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.5,
        "maxOutputTokens": 100,
        "stopSequences": ["X"],
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"a": {"type": "integer"}}},
    }
    decl = body["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "weather" and "additionalProperties" not in decl["parameters"]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    user, model, tool = body["contents"]
    assert user == {"role": "user", "parts": [{"text": "weather?"}]}
    assert model == {
        "role": "model",
        "parts": [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}],
    }
    assert tool["role"] == "user" and tool["parts"] == [
        {"functionResponse": {"name": "weather", "response": {"temp": 3}}},
        {"functionResponse": {"name": "weather", "response": {"content": "plain text"}}},
    ]


async def test_response_translation(fake_gemini: FakeGemini, ctx: ProviderContext) -> None:
    fake_gemini.push(
        Reply(text="hello", usage=(12, 4)), Reply(tool_calls=[ToolCall("weather", {"city": "Rome"})])
    )
    p = provider(fake_gemini, ctx)
    resp = await p.complete(chat([{"role": "user", "content": "hi"}]))
    assert resp.text == "hello" and resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (12, 4)
    tool = await p.complete(chat([{"role": "user", "content": "hi"}], tools=TOOLS))
    call = tool.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call["function"]["name"] == "weather" and orjson.loads(call["function"]["arguments"]) == {
        "city": "Rome"
    }
    assert tool.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(("scripted", "ours"), [("length", "length"), ("content_filter", "content_filter")])
async def test_finish_reasons(
    fake_gemini: FakeGemini, ctx: ProviderContext, scripted: str, ours: str
) -> None:
    fake_gemini.push(Reply(text="x", finish_reason=scripted))
    resp = await provider(fake_gemini, ctx).complete(chat([{"role": "user", "content": "q"}]))
    assert resp.choices[0].finish_reason == ours


async def test_thoughts_count_as_completion_and_blocked_prompt(
    fake_gemini: FakeGemini, ctx: ProviderContext
) -> None:
    body = {
        "candidates": [
            {
                "content": {"parts": [{"text": "thinking", "thought": True}, {"text": "answer"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "thoughtsTokenCount": 10},
    }
    fake_gemini.push(Reply(body=body), Reply(body={"promptFeedback": {"blockReason": "SAFETY"}}))
    p = provider(fake_gemini, ctx)
    resp = await p.complete(chat([{"role": "user", "content": "q"}]))
    assert resp.text == "answer" and resp.usage is not None and resp.usage.completion_tokens == 12
    blocked = await p.complete(chat([{"role": "user", "content": "q"}]))
    assert blocked.choices[0].finish_reason == "content_filter" and blocked.text == ""


async def test_stream(fake_gemini: FakeGemini, ctx: ProviderContext) -> None:
    fake_gemini.push(Reply(text="one two three", usage=(4, 3)))
    chunks = [c async for c in provider(fake_gemini, ctx).stream(chat([{"role": "user", "content": "q"}]))]
    assert fake_gemini.last_request.path.endswith(":streamGenerateContent")
    assert fake_gemini.last_request.query == {"alt": "sse"}
    assert "".join(c.text for c in chunks) == "one two three"
    assert [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7


async def test_errors(fake_gemini: FakeGemini, ctx: ProviderContext) -> None:
    fake_gemini.push(
        Reply.error(429, "Resource has been exhausted", retry_after=7),
        Reply.garbage(),
        Reply(text="a b c d", cut_after=2),
    )
    p = provider(fake_gemini, ctx)
    with pytest.raises(UpstreamHTTPError) as info:
        await p.complete(chat([{"role": "user", "content": "q"}]))
    assert (
        info.value.status == 429
        and info.value.retry_after == 7.0
        and "RESOURCE_EXHAUSTED" in info.value.message
    )
    with pytest.raises(UpstreamProtocolError):
        await p.complete(chat([{"role": "user", "content": "q"}]))
    with pytest.raises(UpstreamConnectionError, match="ended early"):
        [c async for c in p.stream(chat([{"role": "user", "content": "q"}]))]


async def test_health(fake_gemini: FakeGemini, ctx: ProviderContext) -> None:
    assert (await provider(fake_gemini, ctx).health_check()).ok
    assert fake_gemini.last_request.path == "/v1beta/models"
