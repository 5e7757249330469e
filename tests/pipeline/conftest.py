"""Fixtures: fake upstreams per model, and the pipeline app served in-process (ASGI, real lifespan)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests.pipeline.harness import MODELS, TEST_KEY, make_app, settings_for, write_test_catalogue

from nexus.testing import FakeOpenAI


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, FakeOpenAI]]:
    servers = {m: FakeOpenAI() for m in MODELS}
    for s in servers.values():
        s.start()
    yield servers
    for s in servers.values():
        s.stop()


@pytest.fixture(autouse=True)
def _fresh(fakes: dict[str, FakeOpenAI], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", TEST_KEY)
    for f in fakes.values():
        f.clear()


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The classifier's trained domain model, trained once per test session and copied into each app."""
    from nexus.config.settings import Settings
    from nexus.embeddings import HashingEmbedder
    from nexus.routing.classifier import Classifier

    d = tmp_path_factory.mktemp("classifier")
    Classifier(embedder=HashingEmbedder(), settings=Settings(data_dir=d)).warm_up()
    return d / "router"


async def open_client(
    tmp: Path, fakes: dict[str, FakeOpenAI], cache: Path, **pipeline: object
) -> tuple[httpx.AsyncClient, object]:
    cat = write_test_catalogue(tmp / "catalogue.yaml", fakes, **pipeline)
    app = make_app(settings_for(tmp, cat), cache)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://nexus"), app


@pytest.fixture
async def client(
    tmp_path: Path, fakes: dict[str, FakeOpenAI], classifier_cache: Path
) -> AsyncIterator[httpx.AsyncClient]:
    c, app = await open_client(tmp_path, fakes, classifier_cache)
    async with app.router.lifespan_context(app), c:  # type: ignore[attr-defined]
        yield c
