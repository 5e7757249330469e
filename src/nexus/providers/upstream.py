"""Shared HTTP plumbing for the hand-written adapters: one place maps transport and status errors.

Every adapter posts JSON on the one pooled `httpx.AsyncClient` and needs the same translation of
failures into typed ProviderErrors. Messages carry the upstream's own error text, never headers, so
no credential can leak into an exception or a log line.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import orjson

from nexus.config.catalogue import ModelEntry
from nexus.providers.errors import (
    ModelUnavailable,
    ProviderError,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from nexus.providers.sse import SSEEvent, aiter_sse
from nexus.providers.types import Health

HEALTH_TIMEOUT_S = 5.0


def where(entry: ModelEntry) -> dict[str, Any]:
    return {"provider": entry.provider, "model": entry.id}


def require_key(entry: ModelEntry, secret: Any) -> str:
    key = secret(entry.api_key_env) if entry.api_key_env else None
    if not key:
        raise ModelUnavailable(
            f"no credential: set {entry.api_key_env or 'api_key_env in the catalogue'}",
            status=503,
            **where(entry),
        )
    return str(key)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message(body: bytes) -> str:
    """The upstream's error text: OpenAI, Anthropic and Gemini all nest it at error.message."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace").strip() or "no body"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            kind = err.get("type") or err.get("status")
            return f"{kind}: {err['message']}"[:500] if kind else str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
        if isinstance(data.get("message"), str):
            return str(data["message"])[:500]
    return body[:300].decode("utf-8", "replace")


def status_error(
    status: int, body: bytes, headers: Mapping[str, str], entry: ModelEntry
) -> UpstreamHTTPError:
    return UpstreamHTTPError(
        f"HTTP {status}: {error_message(body)}",
        status=status,
        retry_after=parse_retry_after(headers.get("retry-after")),
        **where(entry),
    )


def decode_json(raw: bytes, entry: ModelEntry) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"invalid JSON from upstream: {raw[:120]!r}", **where(entry)) from None


def protocol_error(what: str, entry: ModelEntry) -> UpstreamProtocolError:
    return UpstreamProtocolError(f"unexpected upstream response: {what}", **where(entry))


@contextmanager
def transport_errors(entry: ModelEntry) -> Iterator[None]:
    """httpx failures → typed errors (timeouts first: they are transport errors too)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"timed out ({type(exc).__name__})", **where(entry)) from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise UpstreamConnectionError(
            f"connection failed ({type(exc).__name__}: {exc})", **where(entry)
        ) from None
    except httpx.HTTPError as exc:
        raise UpstreamConnectionError(
            f"HTTP transport error ({type(exc).__name__})", **where(entry)
        ) from None


async def post_json(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str], entry: ModelEntry
) -> bytes:
    """POST a JSON body; the raw 2xx response body, or a typed error."""
    with transport_errors(entry):
        resp = await http.post(url, content=orjson.dumps(body), headers=headers)
        raw = resp.content
    if resp.status_code >= 400:
        raise status_error(resp.status_code, raw, resp.headers, entry)
    return raw


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str], entry: ModelEntry
) -> AsyncIterator[httpx.Response]:
    """A streaming POST whose status has been checked; its body is still unread."""
    with transport_errors(entry):
        async with http.stream("POST", url, content=orjson.dumps(body), headers=headers) as resp:
            if resp.status_code >= 400:
                raw = await resp.aread()
                raise status_error(resp.status_code, raw, resp.headers, entry)
            yield resp


async def sse_events(resp: httpx.Response, entry: ModelEntry) -> AsyncIterator[SSEEvent]:
    with transport_errors(entry):
        async for ev in aiter_sse(resp.aiter_bytes()):
            yield ev


def stream_ended_early(entry: ModelEntry) -> UpstreamConnectionError:
    return UpstreamConnectionError("stream ended early (no end-of-stream marker)", **where(entry))


async def probe(
    http: httpx.AsyncClient, url: str, headers: Callable[[], dict[str, str]], entry: ModelEntry
) -> Health:
    """GET a cheap endpoint with a short timeout; reports, never raises (a missing key included)."""
    started = time.perf_counter()
    try:
        sent = headers()
        with transport_errors(entry):
            resp = await http.get(url, headers=sent, timeout=HEALTH_TIMEOUT_S)
    except ProviderError as exc:
        return Health(ok=False, detail=exc.message)
    latency = (time.perf_counter() - started) * 1000
    if resp.status_code >= 400:
        return Health(
            ok=False, latency_ms=latency, detail=f"HTTP {resp.status_code}: {error_message(resp.content)}"
        )
    return Health(ok=True, latency_ms=latency)
