"""The `anthropic` adapter: the Messages API, translated to and from our OpenAI shape.

Request: system/developer messages → top-level `system`; tool results → user `tool_result` blocks;
assistant tool calls → `tool_use` blocks; consecutive same-role turns merged (the API wants them
alternating); base64 data-URL images → image blocks. Response and SSE events come back as OpenAI
completions and chunks, with the usage in a final chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from nexus.config.catalogue import ModelEntry
from nexus.providers import registry, upstream
from nexus.providers.base import CostMixin, ProviderContext
from nexus.providers.errors import ProviderError, UpstreamHTTPError
from nexus.providers.translate import JSON_ONLY, arguments, data_url, image_url_of, json_dumps, system_text
from nexus.providers.types import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    Health,
    ResponseMessage,
    Usage,
    new_completion_id,
)

API_VERSION = "2023-06-01"
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Error event types → the HTTP status the same error has outside a stream.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _user_blocks(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            url = image_url_of(part)
            parsed = data_url(url)
            source = (
                {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
                if parsed
                else {"type": "url", "url": url}
            )
            blocks.append({"type": "image", "source": source})
    return blocks


def _blocks(m: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    if m.role == "tool":
        result = {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.text()}
        return "user", [result]
    if m.role == "assistant":
        blocks = [b for b in _user_blocks(m.content) if b["type"] == "text"]
        for call in m.tool_calls or []:
            fn = call.get("function") or {}
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.get("id", ""),
                    "name": fn.get("name", ""),
                    "input": arguments(call),
                }
            )
        return "assistant", blocks
    return "user", _user_blocks(m.content)


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return {"type": "tool", "name": name} if name else {"type": "auto"}
    return {"required": {"type": "any"}, "none": {"type": "none"}}.get(choice, {"type": "auto"})


def to_anthropic(request: ChatRequest, entry: ModelEntry, *, stream: bool) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role in ("system", "developer"):
            continue
        role, blocks = _blocks(m)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    limit = min(request.output_limit or entry.max_output_tokens, entry.max_output_tokens)
    body: dict[str, Any] = {"model": entry.model, "max_tokens": limit, "messages": messages}
    system = system_text(request.messages)
    fmt = (request.response_format or {}).get("type")
    if fmt in ("json_object", "json_schema"):
        # No native JSON mode: ask in the system prompt, with the schema when there is one.
        schema = (request.response_format or {}).get("json_schema", {}).get("schema")
        hint = JSON_ONLY + (f" It must match this JSON schema: {json_dumps(schema)}" if schema else "")
        system = f"{system}\n\n{hint}" if system else hint
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = min(request.temperature, 1.0)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = [request.stop] if isinstance(request.stop, str) else list(request.stop)
    if request.tools:
        body["tools"] = [
            {
                "name": (t.get("function") or {}).get("name", ""),
                "description": (t.get("function") or {}).get("description", ""),
                "input_schema": (t.get("function") or {}).get("parameters")
                or {"type": "object", "properties": {}},
            }
            for t in request.tools
        ]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if stream:
        body["stream"] = True
    return body


def from_anthropic(data: Any, entry: ModelEntry) -> ChatResponse:
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise upstream.protocol_error("Anthropic message without content", entry)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data["content"]:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            fn = {"name": block.get("name", ""), "arguments": json_dumps(block.get("input") or {})}
            calls.append({"id": block.get("id", ""), "type": "function", "function": fn})
    u = data.get("usage") or {}
    return ChatResponse(
        id=data.get("id") or new_completion_id(),
        model=data.get("model") or entry.model,
        choices=[
            Choice(
                message=ResponseMessage(
                    content="".join(texts) if texts or not calls else None, tool_calls=calls or None
                ),
                finish_reason=FINISH.get(data.get("stop_reason") or "", "stop"),
            )
        ],
        usage=Usage.of(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0)),
    )


def stream_error(payload: dict[str, Any], entry: ModelEntry) -> ProviderError:
    err = payload.get("error") or {}
    kind = err.get("type", "api_error")
    return UpstreamHTTPError(
        f"stream error {kind}: {err.get('message', '')}"[:500],
        status=ERROR_STATUS.get(kind, 500),
        **upstream.where(entry),
    )


class AnthropicProvider(CostMixin):
    default_base_url = "https://api.anthropic.com"

    def __init__(self, entry: ModelEntry, ctx: ProviderContext) -> None:
        self.entry = entry
        self._http: httpx.AsyncClient = ctx.http
        self._secret = ctx.secret
        self.base_url = entry.base_url or self.default_base_url
        self._url = self.base_url + "/v1/messages"

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": upstream.require_key(self.entry, self._secret),
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
            **self.entry.headers,
        }

    async def complete(self, request: ChatRequest) -> ChatResponse:
        body = to_anthropic(request, self.entry, stream=False)
        raw = await upstream.post_json(self._http, self._url, body, self._headers(), self.entry)
        return from_anthropic(upstream.decode_json(raw, self.entry), self.entry)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = to_anthropic(request, self.entry, stream=True)
        state = _StreamState(self.entry)
        async with upstream.open_stream(self._http, self._url, body, self._headers(), self.entry) as resp:
            async for ev in upstream.sse_events(resp, self.entry):
                payload = upstream.decode_json(ev.data, self.entry)
                if not isinstance(payload, dict):
                    raise upstream.protocol_error("stream event is not an object", self.entry)
                for chunk in state.on_event(payload):
                    yield chunk
                if state.stopped:
                    return
        raise upstream.stream_ended_early(self.entry)

    async def health_check(self) -> Health:
        return await upstream.probe(self._http, self.base_url + "/v1/models", self._headers, self.entry)


class _StreamState:
    """Anthropic stream events → OpenAI chunks; tracks ids, tool-call indexes and usage."""

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        self.id = new_completion_id()
        self.model = entry.model
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finish: str | None = None
        self.stopped = False
        self._tool_index: dict[int, int] = {}  # content block index → OpenAI tool_calls index

    def _chunk(self, delta: Delta | None = None, finish: str | None = None) -> ChatChunk:
        choice = ChunkChoice(delta=delta or Delta(), finish_reason=finish)
        return ChatChunk(id=self.id, model=self.model, choices=[choice])

    def on_event(self, ev: dict[str, Any]) -> list[ChatChunk]:
        kind = ev.get("type")
        if kind == "content_block_delta":
            d = ev.get("delta") or {}
            if d.get("type") == "text_delta":
                return [self._chunk(Delta(content=d.get("text", "")))]
            if d.get("type") == "input_json_delta" and ev.get("index") in self._tool_index:
                call = {
                    "index": self._tool_index[ev["index"]],
                    "function": {"arguments": d.get("partial_json", "")},
                }
                return [self._chunk(Delta(tool_calls=[call]))]
            return []  # thinking and signature deltas are not part of the OpenAI shape
        if kind == "message_start":
            msg = ev.get("message") or {}
            self.id = msg.get("id") or self.id
            self.model = msg.get("model") or self.model
            u = msg.get("usage") or {}
            self.prompt_tokens = int(u.get("input_tokens") or 0)
            self.completion_tokens = int(u.get("output_tokens") or 0)
            return [self._chunk(Delta(role="assistant", content=""))]
        if kind == "content_block_start":
            block = ev.get("content_block") or {}
            if block.get("type") != "tool_use":
                return []
            n = self._tool_index[ev.get("index", 0)] = len(self._tool_index)
            call = {
                "index": n,
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""), "arguments": ""},
            }
            return [self._chunk(Delta(tool_calls=[call]))]
        if kind == "message_delta":
            u = ev.get("usage") or {}
            if u.get("output_tokens") is not None:
                self.completion_tokens = int(u["output_tokens"])
            if u.get("input_tokens"):
                self.prompt_tokens = int(u["input_tokens"])
            reason = (ev.get("delta") or {}).get("stop_reason")
            if reason:
                self.finish = FINISH.get(reason, "stop")
                return [self._chunk(finish=self.finish)]
            return []
        if kind == "message_stop":
            self.stopped = True
            usage = Usage.of(self.prompt_tokens, self.completion_tokens)
            return [ChatChunk(id=self.id, model=self.model, choices=[], usage=usage)]
        if kind == "error":
            raise stream_error(ev, self.entry)
        return []  # ping, content_block_stop, and event types added after this adapter


def create(entry: ModelEntry, ctx: ProviderContext) -> AnthropicProvider:
    return AnthropicProvider(entry, ctx)


registry.register("anthropic", create)

__all__ = ["AnthropicProvider", "create", "from_anthropic", "to_anthropic"]
