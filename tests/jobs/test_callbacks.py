"""Signed callbacks: the signature a receiver can verify, and delivery retried as a job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from nexus.jobs import InvalidPayload, deliver_callback, sign, validate_callback_url, verify_signature
from nexus.jobs.callbacks import DELIVERY_HEADER, CallbackRejected, CallbackRetryable
from nexus.jobs.runner import backoff_s
from nexus.testing import CallbackReceiver, Reply

from .conftest import ACME, Env, make_env
from .helpers import FAST, wait_for

SECRET = str(FAST["callback_secret"])


@pytest.fixture
def hook() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as receiver:
        yield receiver  # type: ignore[misc]


def test_a_signature_verifies_only_for_the_same_body_secret_and_a_recent_time() -> None:
    body = b'{"work_order_id":"w1","status":"done"}'
    now = int(time.time())
    header = sign(body, SECRET, now)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(body, header, SECRET)
    assert not verify_signature(body + b" ", header, SECRET)  # tampered body
    assert not verify_signature(body, header, "another-secret-456")
    assert not verify_signature(body, sign(body, SECRET, now - 301), SECRET)  # replayed too late
    assert verify_signature(body, sign(body, SECRET, now - 301), SECRET, tolerance_s=600)
    assert not verify_signature(body, "v1=deadbeef", SECRET) and not verify_signature(
        body, "t=x,v1=1", SECRET
    )


def test_callback_urls_must_be_plain_http_or_https() -> None:
    assert (
        validate_callback_url("https://example.com/hooks/nexus?x=1") == "https://example.com/hooks/nexus?x=1"
    )
    for bad in ("ftp://example.com/x", "/relative", "https://user:pw@example.com/x", "http://", "x" * 10):
        with pytest.raises(InvalidPayload):
            validate_callback_url(bad)


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    lows = [backoff_s(a, 1.0, 30.0, rng=lambda: 0.0) for a in range(1, 8)]
    highs = [backoff_s(a, 1.0, 30.0, rng=lambda: 1.0) for a in range(1, 8)]
    assert lows == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert highs == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


async def test_a_delivery_posts_the_payload_signed(hook: CallbackReceiver) -> None:
    payload = {"work_order_id": "w1", "status": "done", "answer": "42"}
    status = await deliver_callback(hook.url, payload, SECRET, event="work_order.done", delivery_id="job-1")
    assert status == 200
    req = hook.last_request
    assert (req.method, req.path) == ("POST", "/hook")
    assert orjson.loads(req.body) == payload
    assert req.headers["content-type"] == "application/json"
    assert (req.headers["x-nexus-event"], req.headers["x-nexus-delivery"]) == ("work_order.done", "job-1")
    assert verify_signature(req.body, req.headers["x-nexus-signature"], SECRET)


async def test_server_errors_timeouts_and_resets_are_retryable_other_4xx_are_final(
    hook: CallbackReceiver,
) -> None:
    hook.push(
        Reply.error(503, retry_after=7),
        Reply.error(429),
        Reply(delay=1.0),
        Reply(reset=True),
        Reply.error(400),
    )
    with pytest.raises(CallbackRetryable) as info:
        await deliver_callback(hook.url, {}, SECRET)
    assert info.value.retry_after_s == 7.0
    with pytest.raises(CallbackRetryable, match="answered 429"):
        await deliver_callback(hook.url, {}, SECRET)
    with pytest.raises(CallbackRetryable, match="timed out"):
        await deliver_callback(hook.url, {}, SECRET, timeout_s=0.3)
    with pytest.raises(CallbackRetryable, match="connection failed"):
        await deliver_callback(hook.url, {}, SECRET)
    with pytest.raises(CallbackRejected, match="answered 400"):
        await deliver_callback(hook.url, {}, SECRET)


async def test_the_callback_job_retries_until_delivered_with_one_delivery_id(
    env: Env, hook: CallbackReceiver
) -> None:
    hook.push(Reply.error(500), Reply.error(503, retry_after=0.1))
    job_id = await env.queue.enqueue(
        "callback", {"url": hook.url, "event": "test.ping", "payload": {"n": 1}}, tenant=ACME
    )

    async def delivered() -> bool:
        return (await env.queue.status(job_id, tenant=ACME)).status == "done"

    await wait_for(delivered, timeout=20, what="callback delivered")
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.attempts, view.result) == (3, {"status": 200})
    assert [r.headers[DELIVERY_HEADER.lower()] for r in hook.deliveries] == [job_id] * 3
    assert all(verify_signature(r.body, r.headers["x-nexus-signature"], SECRET) for r in hook.deliveries)


async def test_a_rejected_callback_is_dead_lettered_after_one_try(env: Env, hook: CallbackReceiver) -> None:
    hook.push(Reply.error(404))
    job_id = await env.queue.enqueue("callback", {"url": hook.url, "payload": {}}, tenant=ACME)

    async def dead() -> bool:
        return (await env.queue.status(job_id, tenant=ACME)).status == "failed"

    await wait_for(dead, what="dead-lettered")
    view = await env.queue.status(job_id, tenant=ACME)
    assert (view.attempts, view.error) == (1, "PermanentFailure: callback answered 404")
    assert len(hook.deliveries) == 1


async def test_callbacks_are_refused_without_a_signing_secret(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str, hook: CallbackReceiver
) -> None:
    async with make_env("embedded", request, tmp_path, unique, callback_secret=None) as env:
        job_id = await env.queue.enqueue("callback", {"url": hook.url}, tenant=ACME)

        async def dead() -> bool:
            return (await env.queue.status(job_id, tenant=ACME)).status == "failed"

        await wait_for(dead, what="dead-lettered")
        assert "NEXUS_CALLBACK_SECRET is not set" in str((await env.queue.status(job_id, tenant=ACME)).error)
        assert hook.deliveries == []
