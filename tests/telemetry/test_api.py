"""Pins the public telemetry API the gateway wires (a rename here must be a deliberate change)."""

from __future__ import annotations

import inspect

import nexus.telemetry as telemetry
from nexus.gateway.middleware import RequestContextMiddleware


def test_public_names_and_signatures() -> None:
    assert set(telemetry.__all__) >= {
        "Metrics", "setup_tracing", "setup_logging", "request_id_var", "get_request_id", "log_prompt",
        "request_span", "node_span", "model_call_span", "record_call_span", "catalogue_secrets",
    }  # fmt: skip
    assert list(inspect.signature(telemetry.setup_tracing).parameters)[:2] == ["settings", "exporter"]
    assert list(inspect.signature(telemetry.Metrics.observe_request).parameters) == [
        "self", "route", "method", "status", "seconds",
    ]  # fmt: skip
    assert list(inspect.signature(RequestContextMiddleware).parameters)[:2] == ["app", "metrics"]
    assert telemetry.get_request_id() == ""
