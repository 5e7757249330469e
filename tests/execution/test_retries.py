"""Timeouts and retries: backoff on retryable failures only (5xx, 429, connect, timeout), never on 4xx."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.execution.conftest import FAST

from nexus.execution import (
    EgressPolicy,
    ExecContext,
    ExecutionAudit,
    ExecutionEngine,
    ExternalCallFailed,
    ExternalRequest,
)
from nexus.execution.engine import backoff
from nexus.testing import Reply
from nexus.testing.fake_http import FakeHTTP
from nexus.testing.gateway import free_port

CTX = ExecContext(tenant="acme", actor="key-1", request_id="req-1")


async def test_503_is_retried_until_it_succeeds(
    engine: ExecutionEngine, fake: FakeHTTP, audits: list[ExecutionAudit]
) -> None:
    fake.push(Reply.error(503), Reply.error(503), Reply(text="fine"))
    resp = await engine.request(CTX, ExternalRequest(url=f"{fake.url}/items?token=s3cret"))
    assert (resp.status, resp.attempts, resp.json_body()) == (200, 3, {"text": "fine"})
    assert len(fake.requests) == 3
    [record] = audits
    assert (record.outcome, record.status, record.attempts) == ("ok", 200, 3)
    assert record.url == f"{fake.url}/items" and "s3cret" not in repr(record)


async def test_400_is_not_retried(
    engine: ExecutionEngine, fake: FakeHTTP, audits: list[ExecutionAudit]
) -> None:
    fake.push(Reply.error(400, "bad field"), Reply(text="would succeed on a retry"))
    resp = await engine.request(CTX, ExternalRequest(url=fake.url + "/x"))
    assert (resp.status, resp.attempts) == (400, 1)
    assert len(fake.requests) == 1
    assert audits[0].outcome == "http_error"


async def test_retries_stop_at_the_limit_and_return_the_last_answer(
    engine: ExecutionEngine, fake: FakeHTTP
) -> None:
    fake.push(*[Reply.error(502)] * 5)
    resp = await engine.request(CTX, ExternalRequest(url=fake.url, max_retries=1))
    assert (resp.status, resp.attempts, len(fake.requests)) == (502, 2, 2)


async def test_429_honours_retry_after(engine: ExecutionEngine, fake: FakeHTTP) -> None:
    fake.push(Reply.error(429, retry_after=0), Reply(text="ok"))
    resp = await engine.request(CTX, ExternalRequest(url=fake.url))
    assert (resp.status, resp.attempts) == (200, 2)


async def test_a_post_is_repeated_only_with_an_idempotency_key(
    engine: ExecutionEngine, fake: FakeHTTP
) -> None:
    fake.push(Reply.error(503), Reply(text="created"))
    once = await engine.request(CTX, ExternalRequest(method="POST", url=fake.url, json={"a": 1}))
    assert (once.status, len(fake.requests)) == (503, 1)
    fake.clear()
    # The engine has no idempotency store here: the key alone marks the POST safe to repeat upstream.
    fake.push(Reply.error(503), Reply(text="created"))
    keyed = await engine.request(
        CTX, ExternalRequest(method="POST", url=fake.url, json={"a": 1}, idempotency_key="k-1")
    )
    assert (keyed.status, len(fake.requests)) == (200, 2)


async def test_a_timeout_is_retried_then_reported(
    engine: ExecutionEngine, fake: FakeHTTP, audits: list[ExecutionAudit]
) -> None:
    fake.push(Reply(delay=1.0), Reply(delay=1.0))
    with pytest.raises(ExternalCallFailed) as info:
        await engine.request(CTX, ExternalRequest(url=fake.url, timeout_s=0.2, max_retries=1))
    assert info.value.timed_out and info.value.attempts == 2
    assert (audits[0].outcome, audits[0].attempts) == ("failed", 2)


async def test_a_connection_refused_is_retried_then_reported(fake: FakeHTTP) -> None:
    port = free_port()  # nothing listens there
    engine = ExecutionEngine(EgressPolicy(trusted=[f"127.0.0.1:{port}"]), settings=FAST)
    try:
        with pytest.raises(ExternalCallFailed) as info:
            await engine.request(CTX, ExternalRequest(method="POST", url=f"http://127.0.0.1:{port}/"))
        # A refused connect never reached the server, so even a POST is tried again.
        assert info.value.attempts == 3 and not info.value.timed_out
    finally:
        await engine.aclose()


async def test_large_answers_are_cut_at_the_cap(fake: FakeHTTP) -> None:
    engine = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]), settings=replace(FAST, max_response_bytes=100)
    )
    try:
        fake.push(Reply(body=b"x" * 1000))
        resp = await engine.request(CTX, ExternalRequest(url=fake.url))
        assert resp.truncated and resp.text == "x" * 100
    finally:
        await engine.aclose()


def test_backoff_grows_with_jitter_and_obeys_retry_after() -> None:
    delays = [backoff(a, 0.1, 10.0) for a in range(4)]
    for attempt, d in enumerate(delays):
        cap = 0.1 * 2**attempt
        assert cap / 2 <= d <= cap
    assert backoff(5, 0.1, 1.0) <= 1.0
    assert backoff(0, 0.1, 5.0, retry_after=3) == 3
    assert backoff(0, 0.1, 5.0, retry_after=60) == 5.0
