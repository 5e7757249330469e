# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""A client that drops a stream mid-answer, through the real gateway over real HTTP: its work order says
`cancelled`, with the tokens the upstream produced up to then and their cost, charged to the tenant's
budget — a client cannot dodge its budget by hanging up just before the end."""

from __future__ import annotations

import uuid

import pytest
from tests.pipeline.conftest import _fresh, classifier_cache, fakes  # noqa: F401  (fixtures)

from nexus.providers.tokens import estimate_tokens
from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import GatewayServer

from .gateway_env import LONG, POEM, budget_used, gw, read_then_drop, work_order  # noqa: F401

CASES = {
    "explicit": ("/v1/chat/completions", {"model": "general", "stream": True}),
    "nexus-auto": ("/v1/chat/completions", {"model": "nexus-auto", "stream": True}),
    "chat-sse": ("/chat", {}),
}


@pytest.mark.parametrize("door", list(CASES))
def test_client_disconnect_mid_stream_is_cancelled_with_tokens_and_charged(
    door: str, gw: GatewayServer, fakes: dict[str, FakeOpenAI]
) -> None:
    path, extra = CASES[door]
    body = (
        {**extra, "message": POEM}
        if path == "/chat"
        else {
            **extra,
            "messages": [{"role": "user", "content": POEM}],
        }
    )
    fakes["general"].push(Reply(text=LONG, chunk_delay=0.02))  # 400 words over ~8 s
    tokens_before, cost_before = budget_used(gw)
    rid = f"disconnect-{door}-{uuid.uuid4().hex[:8]}"
    seen = read_then_drop(gw, path, body, rid, lines=12)
    assert any("word" in line for line in seen), seen  # the answer was flowing when the client left
    row = work_order(gw, rid)
    tokens_after, cost_after = budget_used(gw)
    print(f"\n{door}: work order {row.status}, {row.tokens_in}+{row.tokens_out} tokens, ${row.cost_usd:.8f}")
    assert row.status == "cancelled", (row.status, row.error)
    assert row.tokens_out > 0 and row.tokens_in > 0 and row.cost_usd > 0
    assert row.tokens_out < estimate_tokens(LONG)  # counted up to the disconnect, not the whole answer
    # The budget counters were charged what the work order says.
    assert tokens_after - tokens_before >= row.tokens_in + row.tokens_out
    assert cost_after - cost_before >= row.cost_usd * (1 - 1e-9)
