"""The SSRF guard for the MCP SDK's HTTP client (httpx2 over httpcore2, a fork of httpx): the same
check-then-connect-to-the-checked-address as egress.GuardedBackend, so MCP servers named by a tenant
cannot be pointed at internal addresses either."""

from __future__ import annotations

from collections.abc import Mapping

import httpcore2
import httpx2

from nexus.execution.egress import EgressPolicy, GuardedConnector, Resolver, system_resolver


class GuardedBackend2(GuardedConnector, httpcore2.AsyncNetworkBackend):
    connect_error = httpcore2.ConnectError
    retry_on = (httpcore2.ConnectError, httpcore2.ConnectTimeout)

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver
        self.inner = httpcore2.AnyIOBackend()


def guarded_mcp_http_client(
    policy: EgressPolicy,
    *,
    resolver: Resolver | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    read_timeout_s: float = 300.0,
) -> httpx2.AsyncClient:
    """An httpx2 client for `mcp.client.streamable_http.streamable_http_client(http_client=...)`."""
    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore2.AsyncConnectionPool(  # our backend under httpx2's own transport
        ssl_context=httpx2.create_ssl_context(trust_env=False),
        network_backend=GuardedBackend2(policy, resolver),
    )
    return httpx2.AsyncClient(
        transport=transport,
        headers=dict(headers or {}),
        timeout=httpx2.Timeout(timeout_s, read=read_timeout_s),
        trust_env=False,
        follow_redirects=False,
    )
