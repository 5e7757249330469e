"""The request's correlation id and tenant, carried by ContextVars so logs and spans pick them up.

The gateway middleware sets `request_id_var`; authentication sets `tenant_var`. Both default to ""
so code running outside a request (startup, background jobs) reads an empty string, not an error.
"""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("nexus_request_id", default="")
tenant_var: ContextVar[str] = ContextVar("nexus_tenant", default="")


def get_request_id() -> str:
    return request_id_var.get()


def get_tenant() -> str:
    return tenant_var.get()
