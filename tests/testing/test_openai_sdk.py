"""The official OpenAI SDK accepts FakeOpenAI's answers: the fake speaks the real protocol."""

from __future__ import annotations

import openai

from nexus.testing import FakeOpenAI, Reply, ToolCall


def test_sdk_complete_stream_and_errors() -> None:
    with FakeOpenAI(api_key="sk-fake") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="sk-fake", max_retries=0)
        resp = client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"}]
        )
        assert resp.choices[0].message.content == "Echo: hi" and resp.usage is not None

        stream = client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": "a b"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: a b"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

        fake.push(Reply(tool_calls=[ToolCall("f", {"x": 1})]), Reply.error(429, "slow", retry_after=1))
        tool = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "t"}])
        assert tool.choices[0].message.tool_calls[0].function.arguments == '{"x":1}'  # type: ignore[index]
        try:
            client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "t"}])
        except openai.RateLimitError as exc:
            assert exc.status_code == 429 and "slow" in str(exc)
        else:
            raise AssertionError("expected RateLimitError")
        assert [m.id for m in client.models.list()] == ["fake-model"]
