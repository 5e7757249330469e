# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""The app's routes, enumerated: each one is a door (walked by the policy matrix), an admin route
(role-checked), or one of the listed others. A new route fails here until it is classified, and a
new admin route is covered by the role test automatically."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import BaseRoute
from tests.gateway.doors import DOORS
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue

from nexus.config.settings import Settings
from nexus.gateway.app import create_app
from nexus.service.keys import create_api_key
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer

PUBLIC = {("GET", "/health"), ("GET", "/ready")}
# Authenticated routes that take no chat turn: reads, scoped to the caller's tenant where they hold
# tenant data (tests/security walks their isolation), and model work other than chat (embeddings).
OTHERS = {
    ("GET", "/v1/models"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/audio/speech"),  # admitted and metered; its rules are walked in tests/voice
    ("POST", "/route"),
    ("GET", "/models"),
    ("GET", "/models/{model_id}/prototypes"),
    ("GET", "/trace/{session_id}"),
    ("GET", "/api/work-orders"),
    ("GET", "/api/work-orders/{work_order_id}"),
    ("GET", "/api/metrics"),
    ("GET", "/api/audit"),
    ("GET", "/api/roles"),
    ("POST", "/api/feedback"),  # a rating of the caller's own work order (tests/gateway/test_feedback.py)
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{job_id}"),
    ("POST", "/api/jobs/{job_id}/cancel"),
    ("GET", "/api/agents"),  # agents and runs: reads and control, tenant-scoped (test_agents_api.py)
    ("GET", "/api/agents/{name}"),
    ("POST", "/api/agents"),  # a tenant's own agents: an admin of the tenant (test_agents_api.py)
    ("DELETE", "/api/agents/{name}"),
    ("GET", "/api/agents/runs/{run_id}"),
    ("GET", "/api/agents/{name}/runs/{run_id}"),
    ("POST", "/api/agents/runs/{run_id}/cancel"),
    ("POST", "/api/agents/runs/{run_id}/resume"),  # admitted like a run; walked in test_agents_api.py
    ("DELETE", "/mcp"),  # the MCP transport's session end (stateless: nothing to end)
    ("GET", "/api/health/detailed"),
    ("GET", "/api/health/history"),  # admins only (tests/ops/test_health_api.py)
    # Fine-tuning: creation is admitted and guarded (the training text goes upstream); walked in
    # tests/finetune (limits, guard, tenancy).
    ("POST", "/api/fine-tunes"),
    ("GET", "/api/fine-tunes"),
    ("GET", "/api/fine-tunes/{fine_tune_id}"),
    ("POST", "/api/fine-tunes/{fine_tune_id}/cancel"),
    # The FAQ product line's reads and management (tenancy walked in tests/faq).
    ("POST", "/api/smart-agents"),
    ("GET", "/api/smart-agents"),
    ("GET", "/api/smart-agents/{agent_id}"),
    ("DELETE", "/api/smart-agents/{agent_id}"),
    ("GET", "/api/leads"),
    ("GET", "/api/faqs"),
    ("GET", "/api/faqs/documents/{document_id}"),
    ("PATCH", "/api/faqs/{faq_id}"),
    ("DELETE", "/api/faqs/{faq_id}"),
    ("GET", "/metrics"),
    # Documents (tests/gateway/test_vector_stores.py walks tenancy and bad input); /rag-chat is a door.
    ("POST", "/v1/files"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/{file_id}"),
    ("GET", "/v1/files/{file_id}/content"),
    ("DELETE", "/v1/files/{file_id}"),
    ("POST", "/v1/vector_stores"),
    ("GET", "/v1/vector_stores"),
    ("GET", "/v1/vector_stores/{vector_store_id}"),
    ("DELETE", "/v1/vector_stores/{vector_store_id}"),
    ("POST", "/v1/vector_stores/{vector_store_id}/files"),
    ("GET", "/v1/vector_stores/{vector_store_id}/files"),
    ("GET", "/v1/vector_stores/{vector_store_id}/files/{file_id}"),
    ("DELETE", "/v1/vector_stores/{vector_store_id}/files/{file_id}"),
    ("POST", "/v1/vector_stores/{vector_store_id}/search"),
    ("POST", "/v1/vector_stores/{vector_store_id}"),
    ("POST", "/v1/vector_stores/{vector_store_id}/file_batches"),
    ("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}"),
    ("POST", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel"),
    ("GET", "/v1/vector_stores/{vector_store_id}/file_batches/{batch_id}/files"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


def _all_routes() -> list[BaseRoute]:
    """Every route of the app, with the routers it includes flattened (the app is never started)."""
    app = create_app(Settings(data_dir=Path("/nonexistent-not-started")))
    return [ctx.original_route for ctx in iter_route_contexts(app.routes)]


def _routes() -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in _all_routes():
        if isinstance(r, APIWebSocketRoute):
            out.add(("WEBSOCKET", r.path))
        else:
            path, methods = getattr(r, "path", None), getattr(r, "methods", None) or set()
            out |= {(m, str(path)) for m in methods - {"HEAD"}}
    return out


def _admin_routes() -> list[APIRoute]:
    return [r for r in _all_routes() if isinstance(r, APIRoute) and r.path.startswith("/admin")]


def test_every_route_is_classified() -> None:
    doors = {route for d in DOORS for route in d.routes}
    admin = {(m, p) for (m, p) in _routes() if p.startswith("/admin")}
    unclassified = _routes() - doors - admin - PUBLIC - OTHERS
    assert not unclassified, (
        f"classify these routes: a door taking chat turns goes in tests/gateway/doors.py DOORS (and the "
        f"policy matrix walks it); a read goes in OTHERS here: {sorted(unclassified)}"
    )
    assert not (doors | PUBLIC | OTHERS) - _routes(), "a classified route no longer exists"


def test_every_admin_route_declares_a_role() -> None:
    for route in _admin_routes():
        roles = [
            getattr(dep.call, "required_role", None)
            for dep in route.dependant.dependencies
            if getattr(dep.call, "required_role", None)
        ]
        assert roles, f"{sorted(route.methods)} {route.path} has no role dependency"


@pytest.fixture(scope="module")
def member_gw(
    fakes: dict[str, FakeOpenAI],  # noqa: F811
    classifier_cache: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayServer, dict[str, str]]]:
    d = tmp_path_factory.mktemp("roles")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(data_dir=d, config=write_test_catalogue(d / "catalogue.yaml", fakes), auth="on")
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as gw:
        keys = {
            role: gw.call(create_api_key(gw.services.store, tenant="acme", role=role))[0]
            for role in ("member", "admin", "global_admin")
        }
        yield gw, keys
    mp.undo()


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "acme", path)


@pytest.mark.parametrize(
    "method,path", sorted({(m, r.path) for r in _admin_routes() for m in r.methods}), ids=lambda v: str(v)
)
def test_a_member_key_is_refused_on_every_admin_route(
    member_gw: tuple[GatewayServer, dict[str, str]], method: str, path: str
) -> None:
    gw, keys = member_gw
    r = httpx.request(
        method, gw.base_url + _concrete(path), json={}, headers={"Authorization": f"Bearer {keys['member']}"}
    )
    assert r.status_code == 403, (method, path, r.text)
    assert r.json()["error"]["code"] == "forbidden"


def test_global_configuration_needs_a_global_admin(member_gw: tuple[GatewayServer, dict[str, str]]) -> None:
    gw, keys = member_gw
    reload = gw.base_url + "/admin/catalogue/reload"
    assert httpx.post(reload, headers={"Authorization": f"Bearer {keys['admin']}"}).status_code == 403
    assert httpx.post(reload, headers={"Authorization": f"Bearer {keys['global_admin']}"}).status_code == 200
    proto = gw.base_url + "/admin/models/cheap/prototypes"
    body = {"text": "Translate this invoice into French for the accounting team"}
    assert (
        httpx.post(proto, json=body, headers={"Authorization": f"Bearer {keys['admin']}"}).status_code == 403
    )


def test_a_tenant_admin_acts_only_inside_its_tenant(member_gw: tuple[GatewayServer, dict[str, str]]) -> None:
    gw, keys = member_gw
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    root = {"Authorization": f"Bearer {keys['global_admin']}"}
    assert httpx.post(gw.base_url + "/admin/tenants", json={"id": "globex"}, headers=root).status_code == 201
    # Its own tenant: yes. Another: not found (its existence does not leak), for reads and writes.
    assert httpx.get(gw.base_url + "/admin/tenants/acme", headers=admin).status_code in (200, 404)
    assert (
        httpx.patch(gw.base_url + "/admin/tenants/acme", json={"rpm": 100}, headers=admin).status_code == 200
    )
    assert httpx.get(gw.base_url + "/admin/tenants/globex", headers=admin).status_code == 404
    assert (
        httpx.patch(gw.base_url + "/admin/tenants/globex", json={"rpm": 1}, headers=admin).status_code == 404
    )
    budget = {"period": "day", "metric": "tokens", "limit": 1000}
    assert (
        httpx.put(gw.base_url + "/admin/tenants/globex/budgets", json=budget, headers=admin).status_code
        == 404
    )
    assert (
        httpx.put(gw.base_url + "/admin/tenants/acme/budgets", json=budget, headers=admin).status_code == 200
    )
    keys_body = {"role": "member", "tenant": "globex"}
    assert httpx.post(gw.base_url + "/admin/keys", json=keys_body, headers=admin).status_code == 404
    # A global admin acts everywhere.
    assert httpx.get(gw.base_url + "/admin/tenants/globex", headers=root).status_code == 200
    listed = httpx.get(gw.base_url + "/admin/tenants", headers=admin).json()["data"]
    assert {t["id"] for t in listed} <= {"acme"}
