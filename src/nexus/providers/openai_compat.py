"""The `openai` adapter: any OpenAI-compatible chat-completions endpoint.

OpenAI, Groq, Cerebras, OpenRouter, Together, Mistral, DeepSeek, vLLM, LM Studio… The request body is
our request as the client sent it (tools, tool_choice, response_format untouched) with the upstream
model name. This is the passthrough hot path: one JSON encode, one validating parse per response or
chunk (pydantic-core parses and validates in one pass), no per-chunk dict juggling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from nexus.config.catalogue import ModelEntry
from nexus.providers import registry, upstream
from nexus.providers.base import CostMixin, ProviderContext
from nexus.providers.errors import ProviderError, UpstreamHTTPError
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health

_DONE = b"[DONE]"


class OpenAICompatProvider(CostMixin):
    default_base_url = "https://api.openai.com/v1"
    # Local servers (Ollama, vLLM without --api-key) need no key; a hosted API does.
    key_required = True

    def __init__(self, entry: ModelEntry, ctx: ProviderContext) -> None:
        self.entry = entry
        self._http: httpx.AsyncClient = ctx.http
        self._secret = ctx.secret
        self.base_url = entry.base_url or self.default_base_url
        self._chat_url = self.base_url + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json", **self.entry.headers}
        if self.key_required and self.entry.api_key_env:
            headers["authorization"] = "Bearer " + upstream.require_key(self.entry, self._secret)
        elif self.entry.api_key_env:
            key = self._secret(self.entry.api_key_env)
            if key:
                headers["authorization"] = "Bearer " + key
        return headers

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = request.wire(model=self.entry.model)
        body.pop("stream", None)
        body.pop("stream_options", None)
        raw = await upstream.post_json(self._http, self._chat_url, body, self._headers(), self.entry)
        try:
            return ChatResponse.model_validate_json(raw)
        except ValidationError:
            raise self._bad_body(raw) from None

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = request.wire(model=self.entry.model)
        body["stream"] = True
        # Always ask for the usage chunk: metering needs it even when the client did not.
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        headers = self._headers()
        headers["accept"] = "text/event-stream"
        finished = False
        async with upstream.open_stream(self._http, self._chat_url, body, headers, self.entry) as resp:
            async for ev in upstream.sse_events(resp, self.entry):
                data = ev.data
                if data == _DONE:
                    return
                try:
                    chunk = ChatChunk.model_validate_json(data)
                except ValidationError:
                    raise self._bad_body(data) from None
                if not finished and chunk.choices and chunk.choices[0].finish_reason:
                    finished = True
                yield chunk
        if not finished:
            raise upstream.stream_ended_early(self.entry)

    def _bad_body(self, raw: bytes) -> ProviderError:
        """A 200 body that is not a completion: an in-band error object, or garbage."""
        data: Any = upstream.decode_json(raw, self.entry)
        err = data.get("error") if isinstance(data, dict) else None
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) and code >= 400 else 502
            return UpstreamHTTPError(
                f"upstream error: {upstream.error_message(orjson.dumps(data))}",
                status=status,
                **upstream.where(self.entry),
            )
        return upstream.protocol_error(f"not a chat completion: {raw[:120]!r}", self.entry)

    async def health_check(self) -> Health:
        return await upstream.probe(self._http, self.base_url + "/models", self._headers, self.entry)


def create(entry: ModelEntry, ctx: ProviderContext) -> OpenAICompatProvider:
    return OpenAICompatProvider(entry, ctx)


registry.register("openai", create)
