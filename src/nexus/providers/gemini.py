"""The `gemini` adapter: generateContent / streamGenerateContent (SSE), translated to our OpenAI shape.

Request: system/developer messages → `systemInstruction`; roles user|model; assistant tool calls →
`functionCall` parts; tool results → `functionResponse` parts (Gemini matches them by function name,
so names are recovered from the earlier tool calls); sampling and JSON output → `generationConfig`.
Streamed responses carry cumulative usage; the last one is reported in a final usage chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from nexus.config.catalogue import ModelEntry
from nexus.providers import registry, upstream
from nexus.providers.base import CostMixin, ProviderContext
from nexus.providers.translate import arguments, data_url, image_url_of, json_dumps, system_text, tool_names
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

FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "FINISH_REASON_UNSPECIFIED": "stop"}
# Every other finish reason (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, …) is a filter.
FILTERED = "content_filter"
# OpenAPI-subset keys Gemini's responseSchema rejects.
_SCHEMA_DROP = {"additionalProperties", "$schema", "strict", "$id", "title", "default", "examples"}


def _schema(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _schema(v) for k, v in value.items() if k not in _SCHEMA_DROP}
    if isinstance(value, list):
        return [_schema(v) for v in value]
    return value


def _parts(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            parts.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            parsed = data_url(image_url_of(part))
            if parsed:
                parts.append({"inlineData": {"mimeType": parsed[0], "data": parsed[1]}})
            else:
                parts.append({"fileData": {"fileUri": image_url_of(part)}})
    return parts


def _tool_response(m: ChatMessage, names: dict[str, str]) -> dict[str, Any]:
    text = m.text()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    response = value if isinstance(value, dict) else {"content": text}  # must be an object
    name = m.name or names.get(m.tool_call_id or "", "") or "tool"
    return {"functionResponse": {"name": name, "response": response}}


def _contents(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    names = tool_names(messages)
    contents: list[dict[str, Any]] = []
    for m in messages:
        if m.role in ("system", "developer"):
            continue
        if m.role == "tool":
            role, parts = "user", [_tool_response(m, names)]
        elif m.role == "assistant":
            role = "model"
            parts = _parts(m.content)
            for call in m.tool_calls or []:
                parts.append(
                    {
                        "functionCall": {
                            "name": (call.get("function") or {}).get("name", ""),
                            "args": arguments(call),
                        }
                    }
                )
        else:
            role, parts = "user", _parts(m.content)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _tool_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    mode = {"required": "ANY", "none": "NONE"}.get(choice, "AUTO")
    return {"functionCallingConfig": {"mode": mode}}


def to_gemini(request: ChatRequest, entry: ModelEntry) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": _contents(request.messages)}
    system = system_text(request.messages)
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.output_limit:
        config["maxOutputTokens"] = min(request.output_limit, entry.max_output_tokens)
    if request.stop:
        config["stopSequences"] = [request.stop] if isinstance(request.stop, str) else list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    fmt = request.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseSchema"] = _schema(schema)
    if config:
        body["generationConfig"] = config
    if request.tools:
        decls = []
        for t in request.tools:
            fn = t.get("function") or {}
            decl: dict[str, Any] = {"name": fn.get("name", ""), "description": fn.get("description", "")}
            if fn.get("parameters"):
                decl["parameters"] = _schema(fn["parameters"])
            decls.append(decl)
        body["tools"] = [{"functionDeclarations": decls}]
        if request.tool_choice is not None:
            body["toolConfig"] = _tool_config(request.tool_choice)
    return body


def _usage(meta: dict[str, Any]) -> Usage:
    completion = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return Usage.of(int(meta.get("promptTokenCount") or 0), completion)


def _finish(reason: str | None, has_calls: bool) -> str | None:
    if reason is None:
        return None
    if has_calls and reason == "STOP":
        return "tool_calls"
    return FINISH.get(reason, FILTERED)


def _candidate(data: Any, entry: ModelEntry) -> tuple[str, list[dict[str, Any]], str | None]:
    """(text, tool calls, finish reason) of the first candidate; a prompt blocked outright is filtered."""
    if not isinstance(data, dict):
        raise upstream.protocol_error("Gemini response is not an object", entry)
    candidates = data.get("candidates")
    if not candidates:
        if (data.get("promptFeedback") or {}).get("blockReason"):
            return "", [], FILTERED
        if "usageMetadata" in data:  # a usage-only stream chunk
            return "", [], None
        raise upstream.protocol_error("Gemini response without candidates", entry)
    cand = candidates[0]
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (cand.get("content") or {}).get("parts") or []:
        if "text" in part and not part.get("thought"):
            texts.append(part["text"])
        elif "functionCall" in part:
            fc = part["functionCall"]
            fn = {"name": fc.get("name", ""), "arguments": json_dumps(fc.get("args") or {})}
            calls.append({"id": fc.get("id") or f"call_{len(calls)}", "type": "function", "function": fn})
    return "".join(texts), calls, _finish(cand.get("finishReason"), bool(calls))


class GeminiProvider(CostMixin):
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"

    def __init__(self, entry: ModelEntry, ctx: ProviderContext) -> None:
        self.entry = entry
        self._http: httpx.AsyncClient = ctx.http
        self._secret = ctx.secret
        self.base_url = entry.base_url or self.default_base_url
        model_url = f"{self.base_url}/models/{entry.model}"
        self._url = model_url + ":generateContent"
        self._stream_url = model_url + ":streamGenerateContent?alt=sse"

    def _headers(self) -> dict[str, str]:
        key = upstream.require_key(self.entry, self._secret)
        return {"x-goog-api-key": key, "content-type": "application/json", **self.entry.headers}

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raw = await upstream.post_json(
            self._http, self._url, to_gemini(request, self.entry), self._headers(), self.entry
        )
        data = upstream.decode_json(raw, self.entry)
        text, calls, finish = _candidate(data, self.entry)
        return ChatResponse(
            id=data.get("responseId") or new_completion_id(),
            model=data.get("modelVersion") or self.entry.model,
            choices=[
                Choice(
                    message=ResponseMessage(
                        content=text if text or not calls else None, tool_calls=calls or None
                    ),
                    finish_reason=finish or "stop",
                )
            ],
            usage=_usage(data.get("usageMetadata") or {}),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = to_gemini(request, self.entry)
        cid = new_completion_id()
        model = self.entry.model
        usage: Usage | None = None
        finished = False
        n_calls = 0
        async with upstream.open_stream(
            self._http, self._stream_url, body, self._headers(), self.entry
        ) as resp:
            yield ChatChunk(
                id=cid, model=model, choices=[ChunkChoice(delta=Delta(role="assistant", content=""))]
            )
            async for ev in upstream.sse_events(resp, self.entry):
                data = upstream.decode_json(ev.data, self.entry)
                if isinstance(data, dict) and "error" in data:
                    raise upstream.status_error(
                        int(data["error"].get("code") or 500), ev.data, {}, self.entry
                    )
                text, calls, finish = _candidate(data, self.entry)
                if data.get("usageMetadata"):
                    usage = _usage(data["usageMetadata"])
                for call in calls:
                    call["index"] = n_calls
                    n_calls += 1
                if text or calls:
                    delta = Delta(content=text or None, tool_calls=calls or None)
                    yield ChatChunk(id=cid, model=model, choices=[ChunkChoice(delta=delta)])
                if finish:
                    finished = True
                    finish = "tool_calls" if n_calls and finish == "stop" else finish
                    yield ChatChunk(id=cid, model=model, choices=[ChunkChoice(finish_reason=finish)])
        if not finished:
            raise upstream.stream_ended_early(self.entry)
        yield ChatChunk(id=cid, model=model, choices=[], usage=usage or Usage())

    async def health_check(self) -> Health:
        return await upstream.probe(self._http, self.base_url + "/models", self._headers, self.entry)


def create(entry: ModelEntry, ctx: ProviderContext) -> GeminiProvider:
    return GeminiProvider(entry, ctx)


registry.register("gemini", create)
