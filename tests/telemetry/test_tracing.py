"""Spans: GenAI attributes on model calls, nexus.* decisions, the correlation id, and the export switch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from nexus.config import Settings, load_catalogue
from nexus.providers.metering import CallRecord
from nexus.telemetry import (
    annotate,
    model_call_span,
    node_span,
    record_call_span,
    request_id_var,
    request_span,
    set_call_result,
    setup_tracing,
    tenant_var,
    use_tracer_provider,
)
from nexus.telemetry.tracing import OTLP_ENDPOINT_ENV, OTLP_TRACES_ENDPOINT_ENV


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    provider = setup_tracing(Settings(), exporter=exp)
    yield exp
    provider.shutdown()
    use_tracer_provider(trace.NoOpTracerProvider())


@pytest.fixture
def entry():  # type: ignore[no-untyped-def]
    return load_catalogue().models[0]


def test_model_call_span_carries_genai_and_correlation_attributes(exporter, entry) -> None:  # type: ignore[no-untyped-def]
    rid, tenant = request_id_var.set("req-123"), tenant_var.set("acme")
    try:
        with request_span("POST", "/v1/chat/completions"):
            with node_span("route", route_model=entry.id, route_rule="knn") as node:
                annotate(node, judge_score=8.5, guard_action="allow")
                with model_call_span(entry, temperature=0.2, max_tokens=256) as span:
                    set_call_result(span, response_model=entry.model, input_tokens=11, output_tokens=7)
    finally:
        request_id_var.reset(rid)
        tenant_var.reset(tenant)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    call = spans[f"chat {entry.model}"]
    a = call.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == entry.provider
    assert a["gen_ai.request.model"] == entry.model
    assert a["gen_ai.response.model"] == entry.model
    assert a["gen_ai.usage.input_tokens"] == 11
    assert a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 256
    assert a["nexus.request_id"] == "req-123"
    assert a["nexus.tenant"] == "acme"
    assert call.kind == trace.SpanKind.CLIENT
    node = spans["nexus.node route"]
    assert node.attributes["nexus.route.model"] == entry.id
    assert node.attributes["nexus.route.rule"] == "knn"
    assert node.attributes["nexus.judge.score"] == 8.5
    assert node.attributes["nexus.guard.action"] == "allow"
    req = spans["POST /v1/chat/completions"]
    assert req.attributes["nexus.request_id"] == "req-123"
    # One trace: request → node → model call.
    assert call.parent is not None and call.parent.span_id == node.context.span_id
    assert node.parent is not None and node.parent.span_id == req.context.span_id
    assert len({s.context.trace_id for s in spans.values()}) == 1


class UpstreamDown(Exception):
    kind = "upstream_unavailable"


def test_failed_model_call_sets_error_type_and_status(exporter, entry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UpstreamDown):
        with model_call_span(entry):
            raise UpstreamDown("503 from upstream")
    (span,) = exporter.get_finished_spans()
    assert span.attributes["error.type"] == "upstream_unavailable"
    assert span.status.status_code == StatusCode.ERROR
    assert "gen_ai.request.temperature" not in span.attributes


def test_record_call_span_turns_a_metering_record_into_a_timed_child_span(exporter) -> None:  # type: ignore[no-untyped-def]
    rec = CallRecord(
        model="fast", provider="openai", upstream_model="gpt-x", role="worker", prompt_tokens=5,
        completion_tokens=9, cost_usd=0.001, latency_ms=250.0, success=False, error="upstream_timeout: slow",
        request_id="req-9",
    )  # fmt: skip
    with request_span("POST") as parent:
        record_call_span(rec)
    call = next(s for s in exporter.get_finished_spans() if s.name == "chat gpt-x")
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    assert call.end_time - call.start_time == 250_000_000
    assert call.attributes["gen_ai.usage.output_tokens"] == 9
    assert call.attributes["error.type"] == "upstream_timeout"
    assert call.attributes["nexus.request_id"] == "req-9"
    assert "gen_ai.response.model" not in call.attributes


def test_incoming_traceparent_continues_the_callers_trace(exporter) -> None:  # type: ignore[no-untyped-def]
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with request_span("GET", "/health", traceparent=f"00-{trace_id}-00f067aa0ba902b7-01"):
        pass
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == trace_id


def test_nothing_recorded_without_exporter_or_endpoint(monkeypatch, entry) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(OTLP_ENDPOINT_ENV, raising=False)
    monkeypatch.delenv(OTLP_TRACES_ENDPOINT_ENV, raising=False)
    setup_tracing(Settings())
    try:
        with request_span("GET") as req, model_call_span(entry) as call:
            assert not req.is_recording()
            assert not call.is_recording()
    finally:
        use_tracer_provider(trace.NoOpTracerProvider())


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, int]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((self.path, self.headers.get("content-type", ""), len(body)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_http_export_when_endpoint_is_set(monkeypatch, entry) -> None:  # type: ignore[no-untyped-def]
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(OTLP_ENDPOINT_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    provider = setup_tracing(Settings())
    try:
        with model_call_span(entry):
            pass
        assert provider.force_flush()
    finally:
        provider.shutdown()
        use_tracer_provider(trace.NoOpTracerProvider())
        server.shutdown()
    assert _Collector.received, "the collector got no export"
    path, content_type, size = _Collector.received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert size > 0
