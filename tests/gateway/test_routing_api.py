"""Routing API: /route explains a decision; /models and prototype management; errors in the shared shape."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from nexus.config import load_catalogue
from nexus.config.settings import Settings
from nexus.embeddings import HashingEmbedder
from nexus.gateway.deps import services_of
from nexus.gateway.errors import install_error_handlers
from nexus.gateway.routes.admin import router as admin_router
from nexus.gateway.routes.routing import get_router
from nexus.gateway.routes.routing import router as routing_router
from nexus.routing.keywords import KeywordClassifier
from nexus.routing.router import Router


@pytest.fixture()
def client(tmp_path: Path) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routing_router)
    app.include_router(admin_router)
    router = Router.from_catalogue(
        load_catalogue(),
        Settings(data_dir=tmp_path),
        embedder=HashingEmbedder(),
        classifier=KeywordClassifier(),
    )
    app.dependency_overrides[get_router] = lambda: router
    app.dependency_overrides[services_of] = lambda: SimpleNamespace(router=router)
    return TestClient(app)


def test_route_message_and_messages(client: TestClient) -> None:
    r = client.post("/route", json={"message": "Solve for x: 3x^2 - 5x + 2 = 0"})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "qwen-3-235b"
    assert body["explanation"]["rule"] == "knn"
    assert body["explanation"]["neighbours"][0]["model"] == "qwen-3-235b"
    r = client.post(
        "/route", json={"messages": [{"role": "user", "content": "Solve for x: 3x^2 - 5x + 2 = 0"}]}
    )
    assert r.json()["model"] == "qwen-3-235b"
    bad = client.post("/route", json={})
    assert bad.status_code == 400 and "exactly one" in bad.json()["error"]["message"]


def test_models_lists_price_tags_availability_prototypes(client: TestClient) -> None:
    data = client.get("/models").json()["data"]
    kimi = next(m for m in data if m["id"] == "kimi-k2")
    assert kimi["available"] is True and "code" in kimi["tags"]
    assert kimi["prototypes"] >= 10 and kimi["input_price_per_mtok"] == 1.0


def test_prototype_add_remove_and_404(client: TestClient) -> None:
    text = "Explain the zebra quantum marmalade recipe protocol and derive each of its stages in detail"
    assert client.post("/route", json={"message": text}).json()["model"] != "qwen-3-235b"
    r = client.post("/admin/models/qwen-3-235b/prototypes", json={"text": text})
    assert r.status_code == 201 and r.json()["count"] == 13
    routed = client.post("/route", json={"message": text}).json()
    assert (routed["model"], routed["explanation"]["rule"]) == ("qwen-3-235b", "knn")
    r = client.request("DELETE", "/admin/models/qwen-3-235b/prototypes", json={"text": text})
    assert r.status_code == 200 and r.json()["removed"] == text
    r = client.request("DELETE", "/admin/models/gemini-2.5-flash/prototypes", json={"index": 0})
    assert r.status_code == 200 and r.json()["count"] == 11
    missing = client.post("/admin/models/nope/prototypes", json={"text": "x"})
    assert missing.status_code == 404
    err = missing.json()["error"]
    assert err["code"] == "model_not_found" and err["type"] == "not_found_error" and "nope" in err["message"]
