"""Authentication: API keys or JWT bearer tokens → a Principal and a tenant scope on the request.

Auth is off only when no key exists and NEXUS_AUTH=off is set explicitly (the offline demo). A
verified key is cached briefly so the hot path does no database read; revocation clears the cache
in this process and reaches other processes within the cache TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import HTTPConnection

from nexus.config.settings import Settings
from nexus.gateway.errors import APIError
from nexus.gateway.jwt_auth import InvalidToken, JWTVerifier
from nexus.gateway.keys import split_token, verify_secret
from nexus.gateway.principal import ANONYMOUS, Principal

log = logging.getLogger("nexus.auth")

PUBLIC_PATHS = frozenset({"/health"})
CACHE_TTL_S = 5.0


class KeyRow(Protocol):
    id: str
    tenant_id: str
    role: str
    salt: str
    key_hash: str
    revoked_at: Any
    rpm: int | None
    tpm: int | None


class KeyStore(Protocol):
    """What auth needs of the store: lookups run with the system scope (the tenant is not known yet)."""

    async def get_key(self, prefix: str) -> KeyRow | None: ...

    async def count_active_keys(self) -> int: ...

    async def touch_key(self, row_id: str) -> None: ...


class StoreKeys:
    def __init__(self, store: Any) -> None:
        from nexus.store import TenantScope

        self._repo = store.api_keys(TenantScope.system())

    async def get_key(self, prefix: str) -> KeyRow | None:
        row: KeyRow | None = await self._repo.by_prefix(prefix)
        return row

    async def count_active_keys(self) -> int:
        return sum(1 for k in await self._repo.list() if k.revoked_at is None)

    async def touch_key(self, row_id: str) -> None:
        await self._repo.touch(row_id)


@dataclass(slots=True)
class _Cached:
    principal: Principal
    secret_hash: str
    expires: float


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


class Authenticator:
    def __init__(self, settings: Settings, keys: KeyStore | None) -> None:
        self.settings = settings
        self.keys = keys
        self.jwt = JWTVerifier(settings)
        self._cache: dict[str, _Cached] = {}
        self.auth_off = False
        self._touched: dict[str, float] = {}

    async def start(self) -> None:
        """Decide once at start whether auth is off: explicitly requested and no key exists."""
        if self.settings.auth != "off":
            return
        existing = await self.keys.count_active_keys() if self.keys is not None else 0
        if existing:
            log.warning("NEXUS_AUTH=off ignored: API keys exist, so authentication stays on")
            return
        self.auth_off = True
        log.warning("Authentication is OFF (NEXUS_AUTH=off and no API key exists): offline demo mode")

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def authenticate(self, conn: HTTPConnection) -> Principal:
        header = conn.headers.get("authorization", "")
        if not header and conn.scope["type"] == "websocket":
            # Browsers cannot set headers on a WebSocket; accept the key as a query parameter there.
            token = conn.query_params.get("api_key", "")
            header = f"Bearer {token}" if token else ""
        if self.auth_off:
            return ANONYMOUS  # OpenAI clients always send some key; with auth off it means nothing
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
        if len(token) > 8192:
            raise _unauthorized("Malformed bearer token.")
        parts = split_token(token)
        if parts is not None:
            return await self._by_key(*parts)
        if token.count(".") == 2:
            try:
                return self.jwt.verify(token)
            except InvalidToken as exc:
                raise _unauthorized(str(exc)) from None
        raise _unauthorized("Invalid API key.")

    async def _by_key(self, key_id: str, secret: str) -> Principal:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if cached and cached.expires > now and hmac.compare_digest(cached.secret_hash, digest):
            return cached.principal
        if self.keys is None:
            raise _unauthorized("Invalid API key.")
        row = await self.keys.get_key(key_id)
        if row is None or not verify_secret(row.salt, row.key_hash, secret):
            raise _unauthorized("Invalid API key.")
        if row.revoked_at is not None:
            self.forget(key_id)
            raise _unauthorized("This API key has been revoked.")
        principal = Principal(
            tenant_id=row.tenant_id,
            role=row.role,  # type: ignore[arg-type]
            subject=key_id,
            via="key",
            key_id=row.id,
            rpm=row.rpm,
            tpm=row.tpm,
        )
        self._cache[key_id] = _Cached(principal, digest, now + CACHE_TTL_S)
        self._touch(row.id, now)
        return principal

    def _touch(self, key_id: str, now: float) -> None:
        # last-used time, at most once a minute per key, off the request path
        if self.keys is None or now - self._touched.get(key_id, -1e9) < 60:
            return
        self._touched[key_id] = now
        task = asyncio.get_running_loop().create_task(self.keys.touch_key(key_id))
        task.add_done_callback(_log_touch_failure)


def _log_touch_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not record key last-used time")


def require_admin(conn: HTTPConnection) -> Principal:
    principal: Principal = getattr(conn.state, "principal", ANONYMOUS)
    if not principal.is_admin:
        raise APIError(403, "This action needs an admin key.", code="forbidden")
    return principal
