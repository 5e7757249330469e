"""Idempotency keys recorded in the database (SQLite and PostgreSQL): one external call per key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.execution.conftest import FAST

from nexus.execution import (
    EgressPolicy,
    ExecContext,
    ExecutionAudit,
    ExecutionEngine,
    ExternalRequest,
    IdempotencyMismatch,
    SqlIdempotency,
)
from nexus.store import Store
from nexus.store.repos.agents import ExecutionRecords
from nexus.store.scope import TenantScope
from nexus.testing import Reply
from nexus.testing.fake_http import FakeHTTP


@pytest.fixture
async def keyed(store: Store, fake: FakeHTTP, audits: list[ExecutionAudit]) -> AsyncIterator[ExecutionEngine]:
    e = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]),
        idempotency=SqlIdempotency(store.sessions),
        audit=audits.append,
        settings=FAST,
    )
    yield e
    await e.aclose()


def charge(fake: FakeHTTP, key: str, amount: int = 10) -> ExternalRequest:
    return ExternalRequest(
        method="POST", url=fake.url + "/charges", json={"amount": amount}, idempotency_key=key
    )


async def test_two_concurrent_requests_with_one_key_make_one_call(
    keyed: ExecutionEngine, fake: FakeHTTP, audits: list[ExecutionAudit]
) -> None:
    fake.push(Reply(text="charged once", delay=0.3))
    ctx = ExecContext("acme")
    first, second = await asyncio.gather(
        keyed.request(ctx, charge(fake, "order-42")), keyed.request(ctx, charge(fake, "order-42"))
    )
    assert len(fake.requests) == 1
    assert first.json_body() == second.json_body() == {"text": "charged once"}
    assert sorted([first.replayed, second.replayed]) == [False, True]
    # Later, the same key is still answered from the record.
    third = await keyed.request(ctx, charge(fake, "order-42"))
    assert third.replayed and third.json_body() == {"text": "charged once"} and len(fake.requests) == 1
    assert sorted(a.outcome for a in audits) == ["ok", "replayed", "replayed"]


async def test_keys_are_per_tenant_and_per_key(keyed: ExecutionEngine, fake: FakeHTTP) -> None:
    await keyed.request(ExecContext("acme"), charge(fake, "k"))
    await keyed.request(ExecContext("globex"), charge(fake, "k"))
    await keyed.request(ExecContext("acme"), charge(fake, "k2"))
    assert len(fake.requests) == 3


async def test_a_key_reused_for_another_request_is_an_error(keyed: ExecutionEngine, fake: FakeHTTP) -> None:
    await keyed.request(ExecContext("acme"), charge(fake, "k", amount=10))
    with pytest.raises(IdempotencyMismatch):
        await keyed.request(ExecContext("acme"), charge(fake, "k", amount=99))
    assert len(fake.requests) == 1


async def test_a_failed_call_releases_its_key(keyed: ExecutionEngine, fake: FakeHTTP, store: Store) -> None:
    from nexus.execution import ExternalCallFailed

    fake.push(*[Reply(delay=1.0)] * 3)
    with pytest.raises(ExternalCallFailed):
        await keyed.request(ExecContext("acme"), charge(fake, "k").model_copy(update={"timeout_s": 0.2}))
    assert await ExecutionRecords(store.sessions, TenantScope("acme")).by_key("k") is None
    fake.clear()
    resp = await keyed.request(ExecContext("acme"), charge(fake, "k"))
    assert not resp.replayed and len(fake.requests) == 1


async def test_an_expired_record_is_called_again(store: Store, fake: FakeHTTP) -> None:
    from dataclasses import replace

    engine = ExecutionEngine(
        EgressPolicy(trusted=[f"127.0.0.1:{fake.port}"]),
        idempotency=SqlIdempotency(store.sessions),
        settings=replace(FAST, idempotency_window_s=0.2),
    )
    try:
        await engine.request(ExecContext("acme"), charge(fake, "k"))
        await asyncio.sleep(0.3)
        again = await engine.request(ExecContext("acme"), charge(fake, "k"))
        assert not again.replayed and len(fake.requests) == 2
    finally:
        await engine.aclose()
