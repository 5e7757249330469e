"""FakeOpenAI: an OpenAI-compatible chat-completions server (JSON and SSE) for tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any

import orjson

from nexus.testing.script import Reply
from nexus.testing.server import Event, FakeServer, RecordedRequest, answer_text, pieces, usage_of

_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")


def _prompt(payload: dict[str, Any]) -> str:
    out = []
    for m in payload.get("messages") or []:
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if isinstance(p, dict))
    return "\n".join(out)


def _last_user(payload: dict[str, Any]) -> str:
    for m in reversed(payload.get("messages") or []):
        if m.get("role") == "user":
            return _prompt({"messages": [m]})
    return ""


class FakeOpenAI(FakeServer):
    """POST /v1/chat/completions (stream or not) and GET /v1/models; `base_url` ends in /v1.

    With `api_key` set, requests without `Authorization: Bearer <api_key>` get a 401.
    """

    def __init__(
        self, *, models: tuple[str, ...] = ("fake-model",), api_key: str | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.models = models
        self.api_key = api_key
        self._n = 0

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        if req.method == "GET" and req.path in ("/v1/models", "/models"):
            return "models"
        if req.method == "POST" and req.path in _CHAT_PATHS:
            return "stream" if isinstance(payload, dict) and payload.get("stream") else "complete"
        return None

    def auth_error(self, req: RecordedRequest) -> bytes | None:
        if self.api_key and req.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error_body(401, "Incorrect API key provided")
        return None

    def models_body(self) -> Any:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models],
        }

    def error_body(self, status: int, message: str) -> bytes:
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key", 404: "not_found"}.get(
            status, "server_error"
        )
        return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}})

    def _id(self) -> str:
        self._n += 1
        return f"chatcmpl-fake{self._n:06d}"

    @staticmethod
    def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
        return [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.name, "arguments": orjson.dumps(tc.arguments).decode()},
            }
            for tc in reply.tool_calls or []
        ]

    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any:
        prompt = _prompt(payload)
        text = "" if reply.tool_calls and reply.text is None else answer_text(_last_user(payload), reply)
        p, c = usage_of(prompt, text, reply)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if reply.tool_calls:
            message["tool_calls"] = self._tool_calls(reply)
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": self._id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model", "fake-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
            "system_fingerprint": "fp_fake",
        }

    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]:
        prompt = _prompt(payload)
        text = "" if reply.tool_calls and reply.text is None else answer_text(_last_user(payload), reply)
        p, c = usage_of(prompt, text, reply)
        head = {
            "id": self._id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": payload.get("model", "fake-model"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> Event:
            return None, orjson.dumps(
                {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            )

        events = [chunk({"role": "assistant", "content": ""})]
        if text:
            events += [chunk({"content": piece}) for piece in pieces(text)]
        for i, tc in enumerate(self._tool_calls(reply)):
            events.append(chunk({"tool_calls": [{"index": i, **tc}]}))
        events.append(chunk({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")))
        opts = payload.get("stream_options") or {}
        if opts.get("include_usage"):
            usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
            events.append((None, orjson.dumps({**head, "choices": [], "usage": usage})))
        events.append((None, b"[DONE]"))
        return events
