"""Work orders on the queue: submit → worker runs the turn → answer stored, signed callback sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest

from nexus.jobs import InvalidPayload, TurnAnswer, TurnRequest, submit_work_order, verify_signature
from nexus.store import NotFound
from nexus.store.models import WorkOrder
from nexus.testing import CallbackReceiver

from .conftest import ACME, BACKENDS, GLOBEX, Env, make_env
from .helpers import FAST, wait_for

SECRET = str(FAST["callback_secret"])


class FakeTurns:
    """Satisfies nexus.jobs.TurnRunner: what the lead's ChatService adapter will do for real."""

    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times
        self.calls: list[TurnRequest] = []
        self.hold: asyncio.Event | None = None

    async def run_turn(self, request: TurnRequest) -> TurnAnswer:
        self.calls.append(request)
        if self.hold is not None:
            await self.hold.wait()
        if len(self.calls) <= self.fail_times:
            raise RuntimeError("upstream answered 503")
        return TurnAnswer(
            text=f"answer to: {request.content}", session_id=request.session_id or "s-new", model="demo"
        )


@pytest.fixture
def turns() -> FakeTurns:
    return FakeTurns()


@pytest.fixture(params=BACKENDS)
async def wo_env(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str, turns: FakeTurns
) -> AsyncIterator[Env]:
    async with make_env(request.param, request, tmp_path, unique, services=turns) as e:
        yield e


@pytest.fixture
def hook() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as receiver:
        yield receiver  # type: ignore[misc]


async def _order(env: Env, wo_id: str, status: str) -> WorkOrder:
    repo = env.store.work_orders(ACME)

    async def reached() -> WorkOrder | None:
        row = await repo.get(wo_id)
        return row if row.status == status else None

    found: WorkOrder = await wait_for(reached, timeout=20, what=f"work order {wo_id} → {status}")
    return found


async def test_a_work_order_is_answered_stored_and_called_back_signed(
    wo_env: Env, turns: FakeTurns, hook: CallbackReceiver
) -> None:
    sub = await submit_work_order(
        wo_env.queue, tenant=ACME, content="What is 6*7?", priority=1, callback_url=hook.url, api_key_id="k1"
    )
    assert sub.created
    queued = await wo_env.store.work_orders(ACME).get(sub.work_order_id)
    assert (queued.status, queued.job_id, queued.api_key_id) in {
        ("queued", sub.job_id, "k1"),
        ("running", sub.job_id, "k1"),
        ("done", sub.job_id, "k1"),
    }
    done = await _order(wo_env, sub.work_order_id, "done")
    assert (done.answer, done.session_id, done.owner_model, done.incomplete) == (
        "answer to: What is 6*7?",
        "s-new",
        "demo",
        False,
    )
    assert done.instance_id == wo_env.engine.instance.id and done.finished_at is not None
    [call] = turns.calls
    assert (call.tenant_id, call.work_order_id, call.content, call.priority) == (
        "acme",
        sub.work_order_id,
        "What is 6*7?",
        1,
    )

    await wait_for(lambda: _delivered(hook), what="callback delivered")
    [delivery] = hook.deliveries
    assert delivery.headers["x-nexus-event"] == "work_order.done"
    assert verify_signature(delivery.body, delivery.headers["x-nexus-signature"], SECRET)
    body = orjson.loads(delivery.body)
    assert (body["work_order_id"], body["status"], body["answer"]) == (sub.work_order_id, "done", done.answer)
    with pytest.raises(NotFound):
        await wo_env.store.work_orders(GLOBEX).get(sub.work_order_id)


async def _delivered(hook: CallbackReceiver) -> bool:
    await asyncio.sleep(0)
    return bool(hook.deliveries)


async def test_a_repeated_submission_with_its_idempotency_key_is_one_order(
    wo_env: Env, turns: FakeTurns
) -> None:
    first = await submit_work_order(wo_env.queue, tenant=ACME, content="hi", idempotency_key="client-42")
    again = await submit_work_order(wo_env.queue, tenant=ACME, content="hi", idempotency_key="client-42")
    assert (again.work_order_id, again.job_id, again.created) == (first.work_order_id, first.job_id, False)
    await _order(wo_env, first.work_order_id, "done")
    assert len(await wo_env.store.work_orders(ACME).list()) == 1 and len(turns.calls) == 1


async def test_a_turn_that_keeps_failing_fails_the_order_and_says_so(
    wo_env: Env, turns: FakeTurns, hook: CallbackReceiver
) -> None:
    turns.fail_times = 99
    sub = await submit_work_order(wo_env.queue, tenant=ACME, content="hi", callback_url=hook.url)
    failed = await _order(wo_env, sub.work_order_id, "failed")
    assert failed.error == "RuntimeError: upstream answered 503 (after 3 attempts)" and failed.incomplete
    assert failed.answer is None and len(turns.calls) == 3
    await wait_for(lambda: _delivered(hook), what="failure callback")
    assert hook.deliveries[0].headers["x-nexus-event"] == "work_order.failed"
    assert orjson.loads(hook.deliveries[0].body)["error"] == failed.error


async def test_a_cancelled_running_order_is_interrupted_without_an_answer(
    wo_env: Env, turns: FakeTurns
) -> None:
    turns.hold = asyncio.Event()
    sub = await submit_work_order(wo_env.queue, tenant=ACME, content="long one")
    await _order(wo_env, sub.work_order_id, "running")
    view = await wo_env.queue.cancel(sub.job_id, tenant=ACME)
    assert view.status == "cancelled"
    interrupted = await _order(wo_env, sub.work_order_id, "interrupted")
    turns.hold.set()  # the turn would now answer; its effect must not land
    await asyncio.sleep(0.5)
    row = await wo_env.store.work_orders(ACME).get(sub.work_order_id)
    assert (row.status, row.answer, interrupted.error) == ("interrupted", None, "cancelled")


async def test_a_worker_without_a_chat_service_dead_letters_the_order_clearly(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> None:
    async with make_env("embedded", request, tmp_path, unique, services=None) as env:
        sub = await submit_work_order(env.queue, tenant=ACME, content="hi")
        failed = await _order(env, sub.work_order_id, "failed")
        assert "no chat service (TurnRunner)" in str(failed.error)
        assert (await env.queue.status(sub.job_id, tenant=ACME)).attempts == 1


async def test_bad_submissions_are_clear_errors(wo_env: Env) -> None:
    with pytest.raises(InvalidPayload, match="content must not be empty"):
        await submit_work_order(wo_env.queue, tenant=ACME, content="  ")
    with pytest.raises(InvalidPayload, match="absolute http"):
        await submit_work_order(wo_env.queue, tenant=ACME, content="hi", callback_url="javascript:alert(1)")
    assert await wo_env.store.work_orders(ACME).list() == []
