"""The `litellm` adapter (optional extra): any provider LiteLLM supports, via `litellm.acompletion`.

Install with `pip install 'nexus[litellm]'`. LiteLLM is imported inside the factory, so a catalogue
without `provider: litellm` entries never needs it, and one with them fails with a clear message.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from nexus.config.catalogue import ModelEntry
from nexus.providers import registry, upstream
from nexus.providers.base import CostMixin, ProviderContext
from nexus.providers.errors import (
    ModelUnavailable,
    ProviderError,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health

INSTALL_HINT = "the litellm adapter needs the optional extra: pip install 'nexus[litellm]'"


def _as_dict(obj: Any) -> Any:
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


class LiteLLMProvider(CostMixin):
    def __init__(self, entry: ModelEntry, ctx: ProviderContext, litellm: ModuleType) -> None:
        self.entry = entry
        self._secret = ctx.secret
        self._litellm = litellm

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        body = request.wire(model=self.entry.model)
        body.pop("stream", None)
        body.pop("stream_options", None)
        if self.entry.base_url:
            body["api_base"] = self.entry.base_url
        if self.entry.api_key_env:
            body["api_key"] = upstream.require_key(self.entry, self._secret)
        if self.entry.headers:
            body["extra_headers"] = dict(self.entry.headers)
        return body

    def _error(self, exc: Exception) -> ProviderError:
        # LiteLLM mirrors OpenAI's exception classes; match by name so no import is needed here.
        name = type(exc).__name__
        where = upstream.where(self.entry)
        if "Timeout" in name:
            return UpstreamTimeout(f"timed out ({name})", **where)
        if "Connection" in name:
            return UpstreamConnectionError(f"connection failed ({name})", **where)
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            return UpstreamHTTPError(f"HTTP {status}: {name}", status=status, **where)
        return ProviderError(f"litellm error ({name})", **where)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            result = await self._litellm.acompletion(**self._kwargs(request))
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        return ChatResponse.model_validate(_as_dict(result))

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        kwargs = self._kwargs(request)
        try:
            chunks = await self._litellm.acompletion(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in chunks:
                yield ChatChunk.model_validate(_as_dict(chunk))
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(exc) from None

    async def health_check(self) -> Health:
        started = time.perf_counter()
        try:
            self._kwargs(ChatRequest(model=self.entry.id, messages=[{"role": "user", "content": "ping"}]))  # type: ignore[list-item]
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        # No cheap probe is common to every LiteLLM backend; configured credentials count as healthy.
        return Health(
            ok=True, latency_ms=(time.perf_counter() - started) * 1000, detail="credentials present"
        )


def create(entry: ModelEntry, ctx: ProviderContext) -> LiteLLMProvider:
    try:
        import litellm
    except ImportError:
        raise ModelUnavailable(INSTALL_HINT, provider="litellm", model=entry.id, status=503) from None
    return LiteLLMProvider(entry, ctx, litellm)


registry.register("litellm", create)
