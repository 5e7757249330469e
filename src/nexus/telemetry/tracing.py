"""OpenTelemetry spans: a request span, one span per pipeline node, one per model call.

Nexus keeps its own TracerProvider instead of the OpenTelemetry global one, so tests can install an
in-memory exporter per test without fighting a process-wide setting. Without an exporter and without
OTEL_EXPORTER_OTLP_ENDPOINT nothing is sampled: spans are non-recording and cost next to nothing.
Model calls follow the GenAI semantic conventions (gen_ai.*); Nexus decisions live under nexus.*.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from nexus.config.settings import Settings
from nexus.telemetry.context import request_id_var, tenant_var

OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"

# Nexus decision attributes; keyword names accepted by node_span/annotate map onto these.
NEXUS_ATTRS = {
    "route_model": "nexus.route.model",
    "route_rule": "nexus.route.rule",
    "judge_score": "nexus.judge.score",
    "guard_action": "nexus.guard.action",
    "request_id": "nexus.request_id",
    "tenant": "nexus.tenant",
}


class ModelEntryLike(Protocol):
    """What model_call_span reads (nexus.config.ModelEntry fits)."""

    id: str
    provider: str
    model: str


class _Active:
    # The provider the helpers use; setup_tracing replaces it. A no-op until then.
    provider: trace.TracerProvider = trace.NoOpTracerProvider()
    tracer: trace.Tracer = provider.get_tracer("nexus")
    # False while nothing would be exported: the helpers then skip OpenTelemetry entirely (~10 µs a span).
    enabled = False


_propagator = TraceContextTextMapPropagator()


def setup_tracing(
    settings: Settings, exporter: SpanExporter | None = None, *, install: bool = True
) -> TracerProvider:
    """Build Nexus's TracerProvider and (by default) make the span helpers use it.

    exporter given → spans go to it synchronously (tests: InMemorySpanExporter);
    else OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) set → OTLP over HTTP, batched;
    else → nothing is recorded or exported.
    """
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", "nexus"),
            "service.instance.id": f"{settings.host}:{settings.port}",
        }
    )
    if exporter is not None:
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif os.environ.get(OTLP_ENDPOINT_ENV) or os.environ.get(OTLP_TRACES_ENDPOINT_ENV):
        # Imported here: the exporter pulls in protobuf and requests, which the default path never needs.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF, shutdown_on_exit=False)
    if install:
        use_tracer_provider(provider, enabled=exporter is not None or provider.sampler is not ALWAYS_OFF)
    return provider


def use_tracer_provider(provider: trace.TracerProvider, *, enabled: bool = True) -> None:
    """Make the helpers use `provider`; enabled=False (or a no-op provider) turns spans off."""
    _Active.provider = provider
    _Active.tracer = provider.get_tracer("nexus")
    _Active.enabled = enabled and not isinstance(provider, trace.NoOpTracerProvider)


def tracing_enabled() -> bool:
    return _Active.enabled


def get_tracer() -> trace.Tracer:
    return _Active.tracer


def _nexus_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword names → attribute keys; dotted keys pass through; None values are dropped."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        name = key if "." in key else NEXUS_ATTRS.get(key, "nexus." + key)
        out[name] = value
    return out


def annotate(span: Span, **attrs: Any) -> None:
    """Add Nexus decisions to a span, e.g. annotate(span, route_model="m", route_rule="knn")."""
    if span.is_recording():
        span.set_attributes(_nexus_attrs(attrs))


def _correlation() -> dict[str, Any]:
    out: dict[str, Any] = {}
    rid = request_id_var.get()
    if rid:
        out["nexus.request_id"] = rid
    tenant = tenant_var.get()
    if tenant:
        out["nexus.tenant"] = tenant
    return out


@contextmanager
def request_span(method: str, route: str = "", *, traceparent: str | None = None) -> Iterator[Span]:
    """The server span of one HTTP request; a W3C `traceparent` header continues the caller's trace."""
    if not _Active.enabled:
        yield trace.INVALID_SPAN
        return
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
    name = f"{method} {route}" if route else method
    with _Active.tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
        if span.is_recording():
            span.set_attributes({"http.request.method": method, **_correlation()})
            if route:
                span.set_attribute("http.route", route)
        yield span


def finish_request_span(span: Span, method: str, route: str, status: int) -> None:
    """Name the request span after its route template once routing has happened."""
    if not span.is_recording():
        return
    span.update_name(f"{method} {route}")
    span.set_attributes({"http.route": route, "http.response.status_code": status, **_correlation()})
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
        span.set_attribute("error.type", str(status))


@contextmanager
def node_span(node_name: str, **attrs: Any) -> Iterator[Span]:
    """A span around one pipeline node; keyword attributes become nexus.* (see NEXUS_ATTRS)."""
    if not _Active.enabled:
        yield trace.INVALID_SPAN
        return
    with _Active.tracer.start_as_current_span(f"nexus.node {node_name}") as span:
        if span.is_recording():
            span.set_attributes({"nexus.node": node_name, **_correlation(), **_nexus_attrs(attrs)})
        yield span


@contextmanager
def model_call_span(
    entry: ModelEntryLike,
    operation: str = "chat",
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
) -> Iterator[Span]:
    """A client span for one model call, with the GenAI semantic-convention attributes.

    Set the outcome with `set_call_result`; an exception sets error.type (a ProviderError's kind,
    else the exception class) and the error status, then propagates.
    """
    if not _Active.enabled:
        yield trace.INVALID_SPAN
        return
    with _Active.tracer.start_as_current_span(f"{operation} {entry.model}", kind=SpanKind.CLIENT) as span:
        if span.is_recording():
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": entry.provider,
                "gen_ai.request.model": entry.model,
                "nexus.model": entry.id,
                "nexus.stream": stream,
                **_correlation(),
            }
            if temperature is not None:
                attrs["gen_ai.request.temperature"] = temperature
            if max_tokens is not None:
                attrs["gen_ai.request.max_tokens"] = max_tokens
            span.set_attributes(attrs)
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", _error_type(exc))
            raise


def set_call_result(
    span: Span,
    *,
    response_model: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    finish_reason: str | None = None,
) -> None:
    if not span.is_recording():
        return
    attrs: dict[str, Any] = {}
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    if input_tokens is not None:
        attrs["gen_ai.usage.input_tokens"] = input_tokens
    if output_tokens is not None:
        attrs["gen_ai.usage.output_tokens"] = output_tokens
    if finish_reason:
        attrs["gen_ai.response.finish_reasons"] = (finish_reason,)
    span.set_attributes(attrs)


def record_call_span(record: Any) -> None:
    """A finished model-call span from a metering CallRecord (duck-typed): `meter.subscribe(record_call_span)`.

    The span ends now and starts `latency_ms` earlier, as a child of whatever span is current,
    so provider adapters need no tracing code of their own.
    """
    if not _Active.enabled:
        return
    tracer = _Active.tracer
    end = time.time_ns()
    start = end - int(record.latency_ms * 1_000_000)
    upstream = getattr(record, "upstream_model", "") or record.model
    span = tracer.start_span(f"chat {upstream}", kind=SpanKind.CLIENT, start_time=start)
    if span.is_recording():
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": record.provider,
            "gen_ai.request.model": upstream,
            "gen_ai.usage.input_tokens": record.prompt_tokens,
            "gen_ai.usage.output_tokens": record.completion_tokens,
            "nexus.model": record.model,
            "nexus.cost_usd": record.cost_usd,
            "nexus.stream": bool(getattr(record, "stream", False)),
            **_correlation(),
        }
        if getattr(record, "role", ""):
            attrs["nexus.role"] = record.role
        if getattr(record, "request_id", ""):
            attrs["nexus.request_id"] = record.request_id
        if record.success:
            attrs["gen_ai.response.model"] = upstream
        else:
            error = getattr(record, "error", None) or "error"
            attrs["error.type"] = error.split(":", 1)[0]
            span.set_status(Status(StatusCode.ERROR, error[:200]))
        span.set_attributes(attrs)
    span.end(end_time=end)


def _error_type(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, str) and kind else type(exc).__qualname__
