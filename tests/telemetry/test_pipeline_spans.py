# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""A routed request as a trace viewer sees it: the HTTP span, a child span per pipeline node with its
decision attributes, and the model-call (GenAI) spans with the request's own id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue

from nexus.config.settings import Settings
from nexus.telemetry import setup_tracing, use_tracer_provider
from nexus.testing import FakeOpenAI, Reply


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    provider = setup_tracing(Settings(), exporter=exp)
    yield exp
    provider.shutdown()
    use_tracer_provider(trace.NoOpTracerProvider())


async def test_every_pipeline_node_is_a_child_span_of_the_request(
    exporter: InMemorySpanExporter,
    fakes: dict[str, FakeOpenAI],  # noqa: F811
    classifier_cache: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", TEST_KEY)
    fakes["general"].push(Reply(text="Leaves fall, amber and slow."))
    settings = Settings(
        data_dir=tmp_path, config=write_test_catalogue(tmp_path / "c.yaml", fakes), auth="off"
    )
    app = make_app(settings, classifier_cache)
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nexus") as client:
            r = await client.post(
                "/v1/chat/completions",
                json={
                    "model": "nexus-auto",
                    "messages": [{"role": "user", "content": "Write a poem about autumn"}],
                },
                headers={"x-request-id": "req-spans-1"},
            )
            assert r.status_code == 200, r.text
    spans = exporter.get_finished_spans()
    [http] = [s for s in spans if s.attributes and s.attributes.get("http.route") == "/v1/chat/completions"]
    trace_id = http.context.trace_id
    nodes = {s.name: s for s in spans if s.name.startswith("nexus.pipeline.")}
    assert {
        "nexus.pipeline.classify",
        "nexus.pipeline.route",
        "nexus.pipeline.worker",
        "nexus.pipeline.deliver",
    } <= set(nodes)
    assert all(s.context.trace_id == trace_id for s in nodes.values())
    assert nodes["nexus.pipeline.classify"].attributes["nexus.domain"]
    assert nodes["nexus.pipeline.route"].attributes["nexus.models"]
    calls = [s for s in spans if s.name.startswith("chat ")]
    assert calls and all(s.context.trace_id == trace_id for s in calls)
    assert {s.attributes["nexus.request_id"] for s in calls} == {"req-spans-1"}
    worker = nodes["nexus.pipeline.worker"]
    assert any(s.parent is not None and s.parent.span_id == worker.context.span_id for s in calls)
