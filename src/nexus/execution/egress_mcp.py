"""The SSRF guard for the MCP SDK's HTTP client (httpx2 over httpcore2, a fork of httpx): the same
check-then-connect-to-the-checked-address as egress.GuardedBackend, so MCP servers named by a tenant
cannot be pointed at internal addresses either."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpcore2
import httpx2

from nexus.execution.egress import EgressPolicy, Resolver, checked_addresses, connect_first, system_resolver
from nexus.execution.errors import EgressRefused


class GuardedBackend2(httpcore2.AsyncNetworkBackend):
    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await checked_addresses(
            self.policy, self.resolver, host, port, timeout, httpcore2.ConnectError
        )
        return await connect_first(
            addresses,
            lambda a: self.inner.connect_tcp(
                a, port, timeout=timeout, local_address=local_address, socket_options=socket_options
            ),
            (httpcore2.ConnectError, httpcore2.ConnectTimeout),
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not reachable", host=path)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


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
