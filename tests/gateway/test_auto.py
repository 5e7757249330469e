# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""`model: "nexus-auto"` on /v1/chat/completions: the pipeline behind the OpenAI shape."""

from __future__ import annotations

import json

import httpx
from tests.pipeline.conftest import _fresh, classifier_cache, client, fakes  # noqa: F401  (fixtures)

from nexus.testing import FakeOpenAI, Reply


async def test_non_stream_returns_the_answer_with_nexus_field_and_headers(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["cheap"].push(Reply(text="Hi there!"))
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "nexus-auto", "messages": [{"role": "user", "content": "hello there!"}]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == "Hi there!"
    assert body["nexus"]["models"] == ["cheap"] and body["nexus"]["interrupt"] is False
    assert r.headers["x-nexus-models"] == "cheap" and r.headers["x-nexus-run"] == body["nexus"]["run_id"]
    assert body["usage"]["total_tokens"] > 0


async def test_stream_sends_ordinary_chunks_ending_in_done(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].push(
        Reply(text="A poem about the sea, in several words to make several chunks of text here.")
    )
    r = await client.post(
        "/v1/chat/completions",
        json={
            "model": "nexus-auto",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Write a short poem about the sea at night"}],
        },
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    lines = [ln[6:] for ln in r.text.split("\n") if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(x) for x in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith("A poem about the sea")
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert any(c.get("nexus", {}).get("run_id") for c in chunks)
    assert r.headers["x-nexus-models"] == "general"


async def test_interrupt_comes_back_as_a_question_and_the_next_message_resumes(
    client: httpx.AsyncClient, fakes: dict[str, FakeOpenAI]
) -> None:
    first = await client.post(
        "/v1/chat/completions",
        json={
            "model": "nexus-auto",
            "user": "auto-sess",
            "messages": [{"role": "user", "content": "fix it"}],
        },
    )
    body = first.json()
    assert body["nexus"]["interrupt"] is True and first.headers["x-nexus-interrupt"] == "true"
    question = body["choices"][0]["message"]["content"]
    assert question.endswith("?") or "?" in question
    fakes["coder"].default = fakes["general"].default = Reply(text="Fixed the date parser.")
    try:
        second = await client.post(
            "/v1/chat/completions",
            headers={"X-Nexus-Session": "auto-sess"},
            json={
                "model": "nexus-auto",
                "messages": [
                    {"role": "user", "content": "fix it"},
                    {"role": "assistant", "content": question},
                    {"role": "user", "content": "the date parser in utils.py"},
                ],
            },
        )
    finally:
        fakes["coder"].default = fakes["general"].default = Reply()
    b2 = second.json()
    assert b2["nexus"]["interrupt"] is False and b2["nexus"]["run_id"] == body["nexus"]["run_id"]
    assert b2["choices"][0]["message"]["content"] == "Fixed the date parser."
