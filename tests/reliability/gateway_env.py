"""The real gateway app (every door, the service layer, the pipeline) behind the real HTTP edge, in front of
one scripted FakeOpenAI per catalogue model (tests/pipeline/harness.py), for the reliability tests that
must go through the gateway: client disconnects, hostile session ids, the OpenAPI fuzz."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.pipeline.harness import TEST_KEY, make_app, settings_for, write_test_catalogue

from nexus.service.budgets import BudgetRule
from nexus.store import TenantScope
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer

TENANT = "default"  # auth off: every caller is the default tenant

# A prompt the classifier routes to the `general` worker, whose answer streams live on nexus-auto.
POEM = "Write a short poem about the sea at night"
LONG = " ".join(f"word{i}" for i in range(400))


def serve_gateway(tmp: Path, fakes: dict[str, FakeOpenAI], cache: Path, **settings: Any) -> GatewayServer:
    cat = write_test_catalogue(tmp / "catalogue.yaml", fakes, subtask_timeout_s=60.0)
    s = settings_for(tmp, cat).model_copy(update=settings)
    return GatewayServer(s, app=make_app(s, cache))


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    with serve_gateway(tmp_path_factory.mktemp("gw"), fakes, classifier_cache) as server:
        yield server
    mp.undo()


def work_order(gw: GatewayServer, request_id: str, wait_s: float = 10.0) -> Any:
    """The request's work order once it has left `pending`/`running` (flushing the accounting queue)."""
    deadline = time.monotonic() + wait_s
    row = None
    while time.monotonic() < deadline:
        gw.call(gw.services.accounting.flush())
        row = gw.call(gw.services.store.work_orders(TenantScope(TENANT, False)).by_request_id(request_id))
        if row is not None and row.status not in ("pending", "running"):
            return row
        time.sleep(0.1)
    raise AssertionError(f"no finished work order for {request_id}: {row and row.status}")


def budget_used(gw: GatewayServer) -> tuple[float, float]:
    """The tenant's (tokens, cost) spent today, as the budget enforcement counts them."""
    budgets = gw.services.budgets

    def rule(metric: str) -> BudgetRule:
        return BudgetRule(0, TENANT, None, "day", metric, 1e12, False)

    return budgets.used(rule("tokens")), budgets.used(rule("cost"))


def sse_data(line: str) -> dict[str, Any] | None:
    if not line.startswith("data: ") or line == "data: [DONE]":
        return None
    data: dict[str, Any] = json.loads(line[6:])
    return data


def read_then_drop(
    gw: GatewayServer, path: str, body: dict[str, Any], request_id: str, lines: int, **headers: str
) -> list[str]:
    """POST a streaming request, read `lines` non-empty lines, then drop the connection."""
    seen: list[str] = []
    with httpx.stream(
        "POST",
        gw.base_url + path,
        json=body,
        headers={"x-request-id": request_id, **headers},
        timeout=30,
    ) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line:
                seen.append(line)
            if len(seen) >= lines:
                break
    return seen
