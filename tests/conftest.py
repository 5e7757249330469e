"""Suite-wide fixtures: loopback-only network, real PostgreSQL/Redis, offline model loading."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

POSTGRES_URL = os.environ.get("NEXUS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("NEXUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# CI sets this: a missing PostgreSQL or Redis must fail there, not skip.
REQUIRE_SERVICES = os.environ.get("NEXUS_REQUIRE_SERVICES") == "1"

_real_connect = socket.socket.connect


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets


def _guarded_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may only reach loopback; blocked {address!r}")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _need_service(name: str, host: str, port: int) -> None:
    if _port_open(host, port):
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{name} is required in CI (NEXUS_REQUIRE_SERVICES=1) but {host}:{port} is not reachable")
    pytest.skip(f"{name} not reachable on {host}:{port}; start it to run this test")


@pytest.fixture
def postgres_url() -> str:
    """A real PostgreSQL on 127.0.0.1:5432 (database `test`); fails in CI when absent."""
    _need_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def redis_url() -> str:
    """A real Redis on 127.0.0.1:6379; fails in CI when absent."""
    _need_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def unique() -> str:
    """A short unique token for names shared with real servers (schemas, key prefixes)."""
    return uuid.uuid4().hex[:10]
