"""Authentication: an API key or a JWT bearer token → a Principal. Doors extract the token (header,
query parameter, MCP session…) and call `authenticate`.

With NEXUS_AUTH=off (the offline demo: `make serve`, `nexus serve --demo`) auth is off only while no
API key exists: creating the first key turns it on at once in this process, and in other processes
within KEY_CHECK_S. A verified key is cached briefly so the hot path does no database read;
revocation clears the cache in this process and reaches other processes within the cache TTL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from nexus.config.settings import Settings
from nexus.service.errors import unauthorized as _unauthorized
from nexus.service.identity import ANONYMOUS, Principal
from nexus.service.jwt_auth import InvalidToken, JWTVerifier
from nexus.service.keys import split_token, verify_secret

log = logging.getLogger("nexus.auth")

CACHE_TTL_S = 5.0
# How often a process running with auth off re-checks whether a key now exists.
KEY_CHECK_S = 5.0


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


class Authenticator:
    def __init__(self, settings: Settings, keys: KeyStore | None) -> None:
        self.settings = settings
        self.keys = keys
        self.jwt = JWTVerifier(settings)
        self._cache: dict[str, _Cached] = {}
        self.auth_off = False
        self._checked_at = 0.0
        self._touched: dict[str, float] = {}

    async def start(self) -> None:
        """Auth is off only when NEXUS_AUTH=off is set explicitly and no key exists (yet)."""
        if self.settings.auth != "off":
            return
        await self._check_keys()
        if self.auth_off:
            log.warning("Authentication is OFF (NEXUS_AUTH=off and no API key exists) until a key is created")
        else:
            log.warning("NEXUS_AUTH=off ignored: API keys exist, so authentication stays on")

    async def _check_keys(self) -> None:
        existing = await self.keys.count_active_keys() if self.keys is not None else 0
        self.auth_off = existing == 0
        self._checked_at = time.monotonic()

    def key_created(self) -> None:
        """The first key ends the keyless demo mode in this process at once."""
        if self.auth_off:
            log.warning("an API key now exists: authentication is ON")
        self.auth_off = False

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def authenticate(self, token: str | None) -> Principal:
        """A bearer token (API key or JWT) → the Principal; raises a 401 ServiceError."""
        if self.auth_off:
            if time.monotonic() - self._checked_at > KEY_CHECK_S:
                await self._check_keys()  # another process may have created a key
            if self.auth_off:
                return ANONYMOUS  # OpenAI clients always send some key; with auth off it means nothing
        token = (token or "").strip()
        if not token:
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
