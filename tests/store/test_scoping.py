"""Every repository filters by tenant; another tenant's row looks exactly like a missing one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nexus.store import NotFound, Store, TenantScope
from nexus.store.models import utcnow

ACME, GLOBEX = TenantScope("acme"), TenantScope("globex")
ADMIN = TenantScope("ops", is_global_admin=True)


async def _two_orders(store: Store) -> None:
    await store.work_orders(ACME).add(id="wo-acme", request_id="r1", model_requested="m1")
    await store.work_orders(GLOBEX).add(id="wo-globex", request_id="r2", model_requested="m2")


async def test_other_tenants_work_order_is_not_found(store: Store) -> None:
    await _two_orders(store)
    assert (await store.work_orders(ACME).get("wo-acme")).tenant_id == "acme"
    with pytest.raises(NotFound):
        await store.work_orders(ACME).get("wo-globex")
    assert [w.id for w in await store.work_orders(ACME).list()] == ["wo-acme"]
    assert {w.id for w in await store.work_orders(ADMIN).list()} == {"wo-acme", "wo-globex"}


async def test_a_tenant_cannot_write_as_another(store: Store) -> None:
    row = await store.work_orders(ACME).add(id="wo-x", tenant_id="globex")
    assert row.tenant_id == "acme"
    # Updates are scoped too: globex cannot touch acme's row.
    assert await store.work_orders(GLOBEX).mark_interrupted() == 0
    assert (await store.work_orders(ACME).get("wo-x")).status == "pending"


async def test_sessions_and_messages_are_scoped(store: Store) -> None:
    s = await store.chat_sessions(ACME).create(title="hello")
    await store.messages(ACME).append(s.id, "user", "hi")
    with pytest.raises(NotFound):
        await store.messages(GLOBEX).append(s.id, "user", "sneaky")
    assert await store.messages(GLOBEX).history(s.id) == []
    assert [m.content for m in await store.messages(ACME).history(s.id)] == ["hi"]
    assert await store.chat_sessions(GLOBEX).list() == []


async def test_audit_api_keys_jobs_and_tenants_are_scoped(store: Store) -> None:
    await store.audit(ACME).add(action="key.create", actor="alice")
    await store.audit(GLOBEX).add(action="key.create", actor="bob")
    assert [a.actor for a in await store.audit(ACME).list()] == ["alice"]
    assert len(await store.audit(ADMIN).list(action="key.create")) == 2

    key = await store.api_keys(ACME).create(name="k", role="member", key_hash="h", salt="s", prefix="nx-abc")
    assert await store.api_keys(GLOBEX).find(key.id) is None
    assert await store.api_keys(GLOBEX).revoke(key.id) == 0
    assert (await store.api_keys(TenantScope.system()).by_prefix("nx-abc")).id == key.id  # type: ignore[union-attr]

    job = await store.jobs(ACME).enqueue("reindex", {"doc": 1}, idempotency_key="k")
    # Idempotency keys are per tenant: globex's "k" is another job.
    assert (await store.jobs(ACME).enqueue("reindex", idempotency_key="k")).id == job.id
    assert (await store.jobs(GLOBEX).enqueue("reindex", idempotency_key="k")).id != job.id
    lease = utcnow() + timedelta(seconds=30)
    assert await store.jobs(GLOBEX).claim(job.id, "w1", lease) is None
    claimed = await store.jobs(ACME).claim(job.id, "w1", lease)
    assert claimed is not None and claimed.id == job.id and claimed.attempts == 1
    assert await store.jobs(ACME).claim(job.id, "w2", lease) is None
    assert [j.id for j in await store.jobs(GLOBEX).list(kind="reindex")] != [job.id]

    await store.tenants(ADMIN).create("acme")
    await store.tenants(ADMIN).create("globex")
    assert [t.id for t in await store.tenants(ACME).list()] == ["acme"]
    with pytest.raises(NotFound):
        await store.tenants(ACME).get("globex")
