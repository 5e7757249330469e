"""The fault scripting the reliability tests rely on: a share of faulty replies, and a stalled stream."""

from __future__ import annotations

import time

import httpx
import pytest

from nexus.testing import FakeOpenAI, Reply, share


def test_share_answers_the_given_fraction_reproducibly() -> None:
    a = share(Reply(status=503), 0.25, seed=3)
    b = share(Reply(status=503), 0.25, seed=3)
    picks = [a(None).status for _ in range(2000)]  # type: ignore[arg-type]
    assert picks == [b(None).status for _ in range(2000)]  # type: ignore[arg-type]
    assert 400 < picks.count(503) < 600
    with pytest.raises(ValueError):
        share(Reply(), 1.5)


def test_policy_answers_when_the_queue_is_empty(m1: FakeOpenAI) -> None:
    m1.policy = lambda req: Reply.error(418)
    m1.push(Reply(text="queued first"))
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    headers = {"authorization": "Bearer sk-reliability-test"}
    with httpx.Client(base_url=m1.base_url, headers=headers) as c:
        assert (
            c.post("/chat/completions", json=body).json()["choices"][0]["message"]["content"]
            == "queued first"
        )
        assert c.post("/chat/completions", json=body).status_code == 418


def test_hang_after_sends_n_events_then_nothing(m1: FakeOpenAI) -> None:
    m1.push(Reply(text="a b c", hang_after=1))
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "x"}], "stream": True}
    headers = {"authorization": "Bearer sk-reliability-test"}
    lines: list[str] = []
    t0 = time.monotonic()
    with httpx.Client(base_url=m1.base_url, headers=headers, timeout=httpx.Timeout(5, read=0.5)) as c:
        with pytest.raises(httpx.ReadTimeout), c.stream("POST", "/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if line:
                    lines.append(line)
    assert len(lines) == 1 and '"role":"assistant"' in lines[0]
    assert time.monotonic() - t0 < 3
