"""The OpenAI-compatible API through the official `openai` client, against a real gateway and real
fake upstreams on loopback — including the faults a real upstream produces."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import GatewayServer


def _client(gw: GatewayServer) -> OpenAI:
    return OpenAI(base_url=gw.base_url + "/v1", api_key="unused", max_retries=0, timeout=20)


def test_sync_non_stream_answer_with_usage(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, _ = upstreams
    primary.push(Reply(text="Paris is the capital of France.", usage=(12, 7)))
    resp = _client(gateway).chat.completions.create(
        model="primary", messages=[{"role": "user", "content": "Capital of France?"}], temperature=0.2
    )
    assert resp.choices[0].message.content == "Paris is the capital of France."
    assert resp.model == "primary"
    assert resp.usage is not None and (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (12, 7)
    sent = primary.requests[-1]
    assert sent.json["model"] == "up-primary" and sent.json["temperature"] == 0.2
    assert sent.headers["authorization"] == "Bearer sk-test-upstream-secret-123456"


def test_sync_stream_with_include_usage(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, _ = upstreams
    primary.push(Reply(text="one two three four", usage=(5, 4)))
    stream = _client(gateway).chat.completions.create(
        model="primary",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_stream_without_include_usage_has_no_usage_chunk(gateway: GatewayServer) -> None:
    chunks = list(
        _client(gateway).chat.completions.create(
            model="primary", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks and all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


async def test_async_client_stream_and_not(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    client = AsyncOpenAI(base_url=gateway.base_url + "/v1", api_key="unused", max_retries=0)
    upstreams[0].push(Reply(text="async hello", usage=(3, 2)))
    resp = await client.chat.completions.create(model="primary", messages=[{"role": "user", "content": "x"}])
    assert resp.choices[0].message.content == "async hello" and resp.usage and resp.usage.total_tokens == 5
    stream = await client.chat.completions.create(
        model="primary",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts = [c async for c in stream]
    assert parts[-1].usage is not None
    await client.close()


def test_tools_and_response_format_pass_through(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    _client(gateway).chat.completions.create(
        model="primary",
        messages=[{"role": "user", "content": "weather?"}],
        tools=tools,
        tool_choice="auto",
        response_format={"type": "json_object"},
    )
    sent = upstreams[0].requests[-1].json
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert sent["response_format"] == {"type": "json_object"}


def test_models_list_shows_availability(gateway: GatewayServer) -> None:
    models = {m.id: m for m in _client(gateway).models.list()}
    assert {"nexus-auto", "primary", "backup", "solo", "keyless"} <= set(models)
    extra = models["keyless"].model_extra or {}
    assert extra["nexus"]["available"] is False
    assert (models["primary"].model_extra or {})["nexus"]["available"] is True


# --- faults ---------------------------------------------------------------------------------------


def test_500_then_success_is_retried(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, backup = upstreams
    primary.push(Reply.error(500), Reply(text="recovered"))
    resp = _client(gateway).chat.completions.create(
        model="primary", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content == "recovered" and resp.model == "primary"
    assert len(primary.requests) == 2 and not backup.requests


def test_429_retry_after_is_honoured(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, _ = upstreams
    primary.push(Reply.error(429, "slow down", retry_after=0.4), Reply(text="after the wait"))
    t0 = time.perf_counter()
    resp = _client(gateway).chat.completions.create(
        model="primary", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content == "after the wait"
    assert time.perf_counter() - t0 >= 0.35


def test_timeout_falls_back(gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, backup = upstreams
    primary.push(*[Reply(delay=3.0)] * 3)
    backup.push(Reply(text="from the backup"))
    resp = _client(gateway).chat.completions.create(
        model="primary", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content == "from the backup" and resp.model == "backup"


def test_timeout_without_fallback_is_504(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    upstreams[0].push(*[Reply(delay=3.0)] * 3)
    with pytest.raises(openai.APIStatusError) as exc:
        _client(gateway).chat.completions.create(model="solo", messages=[{"role": "user", "content": "x"}])
    assert exc.value.status_code == 504
    assert exc.value.body["code"] == "upstream_timeout"  # type: ignore[index]


def test_garbage_json_falls_back(gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, backup = upstreams
    primary.push(*[Reply.garbage()] * 3)
    backup.push(Reply(text="clean answer"))
    resp = _client(gateway).chat.completions.create(
        model="primary", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content == "clean answer"


def test_garbage_json_without_fallback_is_502(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    upstreams[0].push(*[Reply.garbage()] * 3)
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        json={"model": "solo", "messages": [{"role": "user", "content": "x"}]},
        timeout=20,
    )
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["type"] == "upstream_error" and err["message"] and "Traceback" not in r.text


def test_reset_before_stream_falls_back(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    primary, backup = upstreams
    primary.push(*[Reply.connection_reset()] * 3)
    backup.push(Reply(text="backup stream"))
    chunks = list(
        _client(gateway).chat.completions.create(
            model="primary", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "backup stream"


def test_reset_mid_stream_ends_with_an_error_event_not_a_hang(
    gateway: GatewayServer, upstreams: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    upstreams[0].push(Reply(text="alpha beta gamma delta epsilon", reset_after=2))
    with httpx.stream(
        "POST",
        gateway.base_url + "/v1/chat/completions",
        timeout=20,
        json={"model": "solo", "stream": True, "messages": [{"role": "user", "content": "x"}]},
    ) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert '"error"' in lines[-2] and "Traceback" not in lines[-2]


def test_unavailable_model_is_a_clear_503(gateway: GatewayServer) -> None:
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        json={"model": "keyless", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 503 and "NEXUS_NO_SUCH_KEY" in r.json()["error"]["message"]
    assert "sk-test-upstream-secret" not in r.text


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"model": "primary"}', 400, "messages"),
        (b'{"model": "primary", "messages": [{"role": "wizard", "content": "x"}]}', 400, "role"),
        (b'{"model": "primary", "messages": [], "temperature": 9}', 400, "messages"),
        (b'{"model": "gpt-17", "messages": [{"role": "user", "content": "x"}]}', 404, "primary"),
        (b"\xff\xfe\xfa", 400, "JSON"),
        (b"[" * 5000 + b"]" * 5000, 400, "JSON"),
    ],
)
def test_bad_input_gets_openai_shaped_errors(
    gateway: GatewayServer, body: bytes, status: int, needle: str
) -> None:
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert needle in err["message"] and err["type"] and "Traceback" not in r.text


def test_oversize_body_is_413(gateway: GatewayServer) -> None:
    big = (
        b'{"model": "primary", "messages": [{"role": "user", "content": "'
        + b"x" * (5 * 1024 * 1024)
        + b'"}]}'
    )
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_request_id_is_returned_on_success_and_error(gateway: GatewayServer) -> None:
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions", content=b"{", headers={"x-request-id": "abc-123"}
    )
    assert r.headers["x-request-id"] == "abc-123"
    r = httpx.get(gateway.base_url + "/health")
    assert r.status_code == 200 and len(r.headers["x-request-id"]) >= 16


def test_auto_model_is_routed_or_clearly_not_implemented(gateway: GatewayServer) -> None:
    r = httpx.post(
        gateway.base_url + "/v1/chat/completions",
        timeout=30,
        json={"model": "nexus-auto", "messages": [{"role": "user", "content": "hello"}]},
    )
    assert r.status_code in (200, 501), r.text
