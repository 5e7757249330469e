"""Telemetry: Prometheus metrics, OpenTelemetry spans and structured JSON logs with a correlation id."""

from nexus.telemetry.context import get_request_id, get_tenant, request_id_var, tenant_var
from nexus.telemetry.logs import JsonFormatter, log_prompt, prompts_enabled, setup_logging
from nexus.telemetry.metrics import UNMATCHED_ROUTE, Metrics, safe_label
from nexus.telemetry.redact import RedactingFilter, Redactor, catalogue_secrets
from nexus.telemetry.tracing import (
    annotate,
    finish_request_span,
    get_tracer,
    model_call_span,
    node_span,
    record_call_span,
    request_span,
    set_call_result,
    setup_tracing,
    use_tracer_provider,
)

__all__ = [
    "UNMATCHED_ROUTE",
    "JsonFormatter",
    "Metrics",
    "RedactingFilter",
    "Redactor",
    "annotate",
    "catalogue_secrets",
    "finish_request_span",
    "get_request_id",
    "get_tenant",
    "get_tracer",
    "log_prompt",
    "model_call_span",
    "node_span",
    "prompts_enabled",
    "record_call_span",
    "request_id_var",
    "request_span",
    "safe_label",
    "set_call_result",
    "setup_logging",
    "setup_tracing",
    "tenant_var",
    "use_tracer_provider",
]
