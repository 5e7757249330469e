# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""The router on live traffic, through the real gateway with keys of two tenants: feedback on answers,
retrain into a candidate and explicit promotion, A/B arms on routed turns, and the semantic cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue

from nexus.config.settings import Settings
from nexus.routing.base import RouteContext
from nexus.service.keys import create_api_key
from nexus.store import TenantScope
from nexus.store.models_router import RoutedTurn
from nexus.store.repos.router import RoutedTurns
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer

QUESTION = "What is the capital of France, and why did it become the capital?"


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayServer, dict[str, str]]]:
    d = tmp_path_factory.mktemp("feedback")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(data_dir=d, config=write_test_catalogue(d / "catalogue.yaml", fakes), auth="on")
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as server:
        keys = {
            f"{tenant}-{role}": server.call(create_api_key(server.services.store, tenant=tenant, role=role))[
                0
            ]
            for tenant in ("acme", "globex", "initech")
            for role in ("member", "admin")
        }
        yield server, keys
    mp.undo()


def _h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _ask(
    gw: GatewayServer, key: str, text: str, *, system: str | None = None, **extra: Any
) -> httpx.Response:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    body = {"model": "nexus-auto", "messages": messages, **extra}
    r = httpx.post(gw.base_url + "/v1/chat/completions", json=body, headers=_h(key), timeout=60)
    assert r.status_code == 200, r.text
    return r


def _calls(fakes: dict[str, FakeOpenAI]) -> int:
    return sum(len(f.requests) for f in fakes.values())


def _settings(gw: GatewayServer, key: str, tenant: str, **body: Any) -> httpx.Response:
    return httpx.put(f"{gw.base_url}/admin/router/{tenant}/settings", json=body, headers=_h(key))


# -- the semantic cache -------------------------------------------------------------------------------
def test_cache_is_opt_in_and_never_crosses_tenants(
    gw: tuple[GatewayServer, dict[str, str]], fakes: dict[str, FakeOpenAI]
) -> None:
    server, keys = gw
    for tenant in ("acme", "globex"):
        assert _settings(server, keys[f"{tenant}-admin"], tenant, cache_enabled=True).status_code == 200
    # A tenant admin cannot change another tenant's settings (not found, its existence hidden).
    assert _settings(server, keys["acme-admin"], "globex", cache_enabled=False).status_code == 404

    first = _ask(server, keys["acme-member"], QUESTION)
    assert first.headers["x-nexus-cache"] == "miss"
    answer = first.json()["choices"][0]["message"]["content"]
    before = _calls(fakes)

    again = _ask(server, keys["acme-member"], QUESTION)
    assert again.headers["x-nexus-cache"] == "hit"
    assert again.json()["choices"][0]["message"]["content"] == answer
    assert _calls(fakes) == before  # no model was called
    server.call(server.services.accounting.flush())
    order = server.call(
        server.services.store.work_orders(TenantScope("acme", False)).get(again.headers["x-nexus-work-order"])
    )
    assert (order.route, order.cost_usd, order.status) == ("cache", 0.0, "done")

    # Same prompt, another tenant: its own miss and its own answer, never acme's entry.
    other = _ask(server, keys["globex-member"], QUESTION)
    assert other.headers["x-nexus-cache"] == "miss"
    assert _calls(fakes) > before
    # A tenant that did not opt in: the cache is not in play at all.
    assert _ask(server, keys["initech-member"], QUESTION).headers["x-nexus-cache"] == ""


def test_a_changed_system_prompt_misses_and_tools_are_never_cached(
    gw: tuple[GatewayServer, dict[str, str]], fakes: dict[str, FakeOpenAI]
) -> None:
    server, keys = gw
    assert _settings(server, keys["acme-admin"], "acme", cache_enabled=True).status_code == 200
    q = "Summarise the causes of the first world war in three sentences."
    assert _ask(server, keys["acme-member"], q, system="You are terse.").headers["x-nexus-cache"] == "miss"
    assert _ask(server, keys["acme-member"], q, system="You are terse.").headers["x-nexus-cache"] == "hit"
    assert _ask(server, keys["acme-member"], q, system="You are verbose.").headers["x-nexus-cache"] == "miss"

    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    t = "Look up the weather in Paris for tomorrow morning."
    assert _ask(server, keys["acme-member"], t, tools=tools).headers["x-nexus-cache"] == "bypass"
    assert _ask(server, keys["acme-member"], t, tools=tools).headers["x-nexus-cache"] == "bypass"
    # Nothing was stored for the tool request: the same text without tools is a miss, not a hit.
    assert _ask(server, keys["acme-member"], t).headers["x-nexus-cache"] == "miss"
    # A sampled answer (temperature > 0) is bypassed too.
    assert (
        _ask(server, keys["acme-member"], q, system="You are terse.", temperature=0.9).headers[
            "x-nexus-cache"
        ]
        == "bypass"
    )
    # Invalidation empties the tenant's cache.
    r = httpx.delete(f"{server.base_url}/admin/router/acme/cache", headers=_h(keys["acme-admin"]))
    assert r.status_code == 200 and r.json()["deleted"] >= 1
    assert _ask(server, keys["acme-member"], q, system="You are terse.").headers["x-nexus-cache"] == "miss"


# -- feedback, retrain, promote -----------------------------------------------------------------------
CODE_Q = "write a python function that sorts a list of dictionaries by the key 'age'"


def test_feedback_retrain_and_promote_move_only_that_tenants_router(
    gw: tuple[GatewayServer, dict[str, str]], fakes: dict[str, FakeOpenAI]
) -> None:
    server, keys = gw
    for tenant in ("acme", "globex"):
        _settings(server, keys[f"{tenant}-admin"], tenant, cache_enabled=False)
    router = server.services.router
    served_before = router.decide(CODE_Q, RouteContext(tenant="acme")).model
    assert served_before == "coder"

    # acme's users rate the coder's answers to this kind of question down, several times.
    for _ in range(4):
        r = _ask(server, keys["acme-member"], CODE_Q)
        assert r.json()["nexus"]["model"] == "coder"
        wo = r.headers["x-nexus-work-order"]
        fb = httpx.post(
            server.base_url + "/api/feedback",
            json={"work_order_id": wo, "rating": "down", "comment": "wrong"},
            headers=_h(keys["acme-member"]),
        )
        assert fb.status_code == 201, fb.text
        assert fb.json()["model"] == "coder" and fb.json()["learnable"] is True
    # Another tenant cannot rate acme's work order (not found), and bad bodies are 4xx in the error shape.
    denied = httpx.post(
        server.base_url + "/api/feedback",
        json={"work_order_id": wo, "rating": "up"},
        headers=_h(keys["globex-member"]),
    )
    assert denied.status_code == 404 and denied.json()["error"]["code"] == "work_order_not_found"
    bad = httpx.post(
        server.base_url + "/api/feedback", json={"rating": "up"}, headers=_h(keys["acme-member"])
    )
    assert bad.status_code in (400, 422) and "error" in bad.json()

    # Retrain: a candidate that would move this prompt away from the coder, for acme only.
    retrain = httpx.post(
        f"{server.base_url}/admin/router/acme/retrain", headers=_h(keys["acme-admin"]), timeout=60
    )
    assert retrain.status_code == 200, retrain.text
    report = retrain.json()
    assert report["status"] == "candidate" and report["ratings"] == 4
    assert any(c["served"] == "coder" and c["candidate"] != "coder" for c in report["changed"]), str(report)
    candidate = router.decide(CODE_Q, RouteContext(tenant="acme", candidate=True))
    assert candidate.model != "coder" and candidate.explanation.rule == "feedback"
    # Not promoted: nothing serves differently, not even for acme.
    assert router.decide(CODE_Q, RouteContext(tenant="acme")).model == served_before
    assert _ask(server, keys["acme-member"], CODE_Q).json()["nexus"]["model"] == "coder"
    # A member cannot promote; a tenant admin cannot promote another tenant's router.
    promote = f"{server.base_url}/admin/router/acme/promote"
    assert httpx.post(promote, headers=_h(keys["acme-member"])).status_code == 403
    assert httpx.post(promote, headers=_h(keys["globex-admin"])).status_code == 404
    assert httpx.post(promote, headers=_h(keys["acme-admin"])).status_code == 200

    # Promoted: acme's routed turns move; globex's do not.
    assert router.decide(CODE_Q, RouteContext(tenant="acme")).model == candidate.model
    assert _ask(server, keys["acme-member"], CODE_Q).json()["nexus"]["model"] == candidate.model
    assert _ask(server, keys["globex-member"], CODE_Q).json()["nexus"]["model"] == "coder"
    shown = httpx.get(f"{server.base_url}/admin/router/acme", headers=_h(keys["acme-admin"])).json()
    assert shown["versions"][0]["status"] == "promoted"
    # Nothing to promote now: 404 in the error shape.
    again = httpx.post(promote, headers=_h(keys["acme-admin"]))
    assert again.status_code == 404 and again.json()["error"]["code"] == "no_candidate"


# -- A/B arms -------------------------------------------------------------------------------------------
def test_ab_arm_is_assigned_per_session_and_logged(gw: tuple[GatewayServer, dict[str, str]]) -> None:
    server, keys = gw
    arms = [{"name": "control", "weight": 1}, {"name": "frugal", "weight": 1, "cost_lambda": 3.0}]
    assert (
        _settings(server, keys["globex-admin"], "globex", arms=arms, cache_enabled=False).status_code == 200
    )
    seen: dict[str, str] = {}
    for i in range(12):
        session = f"ab-session-{i:02d}"
        for _ in range(2):  # the same session twice: the same arm
            r = _ask(
                server,
                keys["globex-member"],
                f"write a python function that returns the {i}th fibonacci number using memoisation",
                user=session,
            )
            arm = r.headers["x-nexus-policy"]
            assert arm in ("control", "frugal")
            assert seen.setdefault(session, arm) == arm
            trace = httpx.get(
                f"{server.base_url}/trace/{r.headers['x-nexus-session']}", headers=_h(keys["globex-member"])
            ).json()
            routed = [e for e in trace["events"] if e["type"] == "routed"][-1]
            assert routed["data"]["explanation"]["extra"]["policy_arm"] == arm
            assert routed["data"]["explanation"]["extra"]["propensity"] == pytest.approx(0.5)
            row: RoutedTurn = server.call(
                RoutedTurns(server.services.store.sessions, TenantScope("globex", False)).get(
                    r.headers["x-nexus-work-order"]
                )
            )
            assert (row.arm, row.propensity) == (arm, pytest.approx(0.5))
    assert set(seen.values()) == {"control", "frugal"}  # 12 sessions: both arms drawn
