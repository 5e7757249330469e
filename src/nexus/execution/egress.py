"""Where external calls may go: per-tenant host allow-lists and the SSRF guard.

The guard sits in the connection layer (an httpcore network backend): the host is resolved once, every
resolved address is checked, and the socket connects to an address that was checked. A DNS answer that
changes between a check and the connect (rebinding) cannot swap the destination, and every redirect
hop that opens a connection passes through the same check. TLS still verifies the certificate against
the host name, because httpcore starts TLS with the original host as the server name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from nexus.execution.errors import EgressRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Instance-metadata endpoints of the big clouds (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, ECS tasks).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why an address must not be reached from the gateway, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.is_unspecified:  # 0.0.0.0 and :: reach the local host on most systems
        return "unspecified address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_private:
        return "private address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "non-public address"
    return None


@dataclass(frozen=True, slots=True)
class Destination:
    """A trusted destination that skips the SSRF guard: a network, optionally one port."""

    network: IPNetwork
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Destination:
        """'127.0.0.1:8080', '10.0.0.0/8', '[::1]:443', '::1'."""
        t = text.strip()
        port: int | None = None
        if t.startswith("["):
            addr, _, rest = t[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else None
            t = addr
        elif t.count(":") == 1:
            t, _, p = t.partition(":")
            port = int(p)
        return cls(ipaddress.ip_network(t, strict=False), port)

    def covers(self, ip: IPAddress, port: int) -> bool:
        return ip in self.network and (self.port is None or self.port == port)


def _host_matches(host: str, pattern: str) -> bool:
    p = pattern.strip().lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*."):
        return host.endswith(p[1:])
    return host == p


class EgressPolicy:
    """`trusted`: destinations the SSRF guard lets through (operator configuration, e.g. an internal
    API); `allowed_hosts`: tenant → host patterns ('api.example.com', '*.example.com', '*'), with the
    '*' key for tenants not listed; None = every public host for every tenant."""

    def __init__(
        self, *, trusted: Iterable[str] = (), allowed_hosts: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.trusted = tuple(Destination.parse(t) for t in trusted)
        self.allowed_hosts = {k: tuple(v) for k, v in allowed_hosts.items()} if allowed_hosts else None

    def check_host(self, tenant: str, host: str) -> None:
        if self.allowed_hosts is None:
            return
        patterns = self.allowed_hosts.get(tenant, self.allowed_hosts.get("*", ()))
        name = host.lower().rstrip(".")
        if not any(_host_matches(name, p) for p in patterns):
            raise EgressRefused(
                f"host {name!r} is not in the allow-list of tenant {tenant!r}",
                host=name,
                reason="host not allowed",
            )

    def check_address(self, host: str, address: str, port: int) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(d.covers(ip, port) for d in self.trusted):
            return
        reason = forbidden_reason(ip)
        if reason is not None:
            raise EgressRefused(
                f"refused to connect to {host!r}: it resolves to {address} ({reason})",
                host=host,
                address=address,
                reason=reason,
            )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def checked_addresses(
    policy: EgressPolicy,
    resolver: Resolver,
    host: str,
    port: int,
    timeout: float | None,
    unresolvable: type[Exception],
) -> list[str]:
    """The host's addresses, every one of them allowed (a name resolving to one public and one
    private address is refused); `unresolvable` is the transport's own connect-error type."""
    if _is_ip(host):
        found = [host]
    else:
        try:
            async with asyncio.timeout(timeout):
                found = await resolver(host, port)
        except (OSError, TimeoutError) as exc:
            raise unresolvable(f"cannot resolve {host!r}: {exc}") from exc
        if not found:
            raise unresolvable(f"cannot resolve {host!r}: no address")
    for address in found:
        policy.check_address(host, address, port)
    return found


class GuardedConnector:
    """The connect step of a network backend: resolve, check every address, connect to a checked one.

    Mixed into backends of httpcore (our engine) and httpcore2 (the MCP SDK's client), which differ
    only in their error types."""

    connect_error: type[Exception]
    retry_on: tuple[type[Exception], ...]
    policy: EgressPolicy
    resolver: Resolver
    inner: Any

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        addresses = await checked_addresses(
            self.policy, self.resolver, host, port, timeout, self.connect_error
        )
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except self.retry_on as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> Any:
        raise EgressRefused("unix sockets are not reachable from the execution engine", host=path)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedBackend(GuardedConnector, httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to a checked address: no second lookup."""

    connect_error = httpcore.ConnectError
    retry_on = (httpcore.ConnectError, httpcore.ConnectTimeout)

    def __init__(
        self,
        policy: EgressPolicy,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver
        self.inner = inner or httpcore.AnyIOBackend()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with the guarded backend under its pool (no proxies from the environment:
    a proxy would make the connect go elsewhere than the checked address)."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
