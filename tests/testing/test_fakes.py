"""The fake upstreams themselves: lifecycle, scripting, recording, protocol shapes."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from nexus.testing import FakeAnthropic, FakeGemini, FakeOpenAI, Reply

CHAT = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}


def test_sync_use_records_requests_and_serves_models() -> None:
    with FakeOpenAI(models=("a", "b")) as fake:
        assert fake.base_url == fake.url + "/v1" and fake.port > 0
        r = httpx.post(fake.base_url + "/chat/completions", json=CHAT, headers={"X-Trace": "t1"})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Echo: ping"
        assert [m["id"] for m in httpx.get(fake.base_url + "/models").json()["data"]] == ["a", "b"]
        first = fake.requests[0]
        assert first.method == "POST" and first.headers["x-trace"] == "t1" and first.json == CHAT
        assert httpx.get(fake.url + "/nope").status_code == 404


async def test_inside_running_loop_with_async_context_manager() -> None:
    async with FakeAnthropic() as fake, httpx.AsyncClient() as http:
        body = {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hey"}]}
        replies = await asyncio.gather(*(http.post(fake.url + "/v1/messages", json=body) for _ in range(5)))
        assert all(r.json()["content"][0]["text"] == "Echo: hey" for r in replies)
        assert len(fake.requests) == 5


def test_queue_then_default_and_scripted_headers() -> None:
    with FakeOpenAI() as fake:
        fake.push(Reply.error(429, "later", retry_after=2), Reply(text="scripted", usage=(1, 2)))
        r1 = httpx.post(fake.base_url + "/chat/completions", json=CHAT)
        r2 = httpx.post(fake.base_url + "/chat/completions", json=CHAT)
        r3 = httpx.post(fake.base_url + "/chat/completions", json=CHAT)
    assert r1.status_code == 429 and r1.headers["retry-after"] == "2"
    assert r1.json()["error"]["message"] == "later"
    assert r2.json()["choices"][0]["message"]["content"] == "scripted"
    assert r2.json()["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert r3.json()["choices"][0]["message"]["content"] == "Echo: ping"


def test_error_bodies_follow_each_protocol() -> None:
    with FakeAnthropic() as a, FakeGemini() as g:
        a.push(Reply.error(529, "Overloaded"))
        g.push(Reply.error(503, "busy"))
        ra = httpx.post(a.url + "/v1/messages", json={"messages": []})
        rg = httpx.post(g.base_url + "/models/x:generateContent", json={"contents": []})
    assert ra.status_code == 529 and ra.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert rg.status_code == 503 and rg.json() == {
        "error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}
    }


def test_api_key_checks() -> None:
    with FakeGemini(api_key="k") as fake:
        url = fake.base_url + "/models/x:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        assert httpx.post(url, json=body).status_code == 401
        assert httpx.post(url, json=body, headers={"x-goog-api-key": "k"}).status_code == 200


def test_partial_stream_and_raw_events() -> None:
    with FakeOpenAI() as fake:
        fake.push(Reply(text="a b c d", cut_after=2), Reply(events=[{"x": 1}, "[DONE]"]))
        body = {**CHAT, "stream": True}
        cut = httpx.post(fake.base_url + "/chat/completions", json=body).text
        raw = httpx.post(fake.base_url + "/chat/completions", json=body).text
    assert cut.count("data: ") == 2 and "[DONE]" not in cut
    assert raw == 'data: {"x":1}\n\ndata: [DONE]\n\n'


def test_connection_reset_and_delay() -> None:
    with FakeOpenAI() as fake:
        fake.push(Reply.connection_reset(), Reply(delay=0.5))
        with pytest.raises(httpx.ReadError):
            httpx.post(fake.base_url + "/chat/completions", json=CHAT)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(fake.base_url + "/chat/completions", json=CHAT, timeout=0.1)
        # The server survives both and answers the next call.
        assert httpx.post(fake.base_url + "/chat/completions", json=CHAT).status_code == 200


def test_gemini_stream_shape() -> None:
    with FakeGemini() as fake:
        body = {"contents": [{"role": "user", "parts": [{"text": "hi you"}]}]}
        text = httpx.post(fake.base_url + "/models/g:streamGenerateContent?alt=sse", json=body).text
    events = [orjson.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events) == "Echo: hi you"
    assert (
        events[-1]["candidates"][0]["finishReason"] == "STOP"
        and "finishReason" not in events[0]["candidates"][0]
    )
