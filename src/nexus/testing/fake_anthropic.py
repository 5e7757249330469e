"""FakeAnthropic: the Messages API (POST /v1/messages, JSON and SSE events) for tests."""

from __future__ import annotations

from typing import Any

import orjson

from nexus.testing.script import Reply
from nexus.testing.server import Event, FakeServer, RecordedRequest, answer_text, pieces, usage_of

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    out = []
    for block in content or []:
        if isinstance(block, dict):
            if block.get("type") == "text":
                out.append(block.get("text", ""))
            elif block.get("type") == "tool_result":
                out.append(_text_of(block.get("content")))
    return "".join(out)


class FakeAnthropic(FakeServer):
    """POST /v1/messages and GET /v1/models; `base_url` is the server root (the adapter adds /v1).

    With `api_key` set, requests without a matching `x-api-key` get a 401.
    """

    def __init__(
        self, *, models: tuple[str, ...] = ("claude-fake",), api_key: str | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.models = models
        self.api_key = api_key
        self._n = 0

    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        if req.method == "GET" and req.path == "/v1/models":
            return "models"
        if req.method == "POST" and req.path == "/v1/messages":
            return "stream" if isinstance(payload, dict) and payload.get("stream") else "complete"
        return None

    def auth_error(self, req: RecordedRequest) -> bytes | None:
        if self.api_key and req.headers.get("x-api-key") != self.api_key:
            return self.error_body(401, "invalid x-api-key")
        return None

    def models_body(self) -> Any:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        return {"data": data, "has_more": False, "first_id": self.models[0], "last_id": self.models[-1]}

    def error_body(self, status: int, message: str) -> bytes:
        kind = _ERROR_TYPES.get(status, "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})

    def _id(self) -> str:
        self._n += 1
        return f"msg_fake{self._n:06d}"

    def _parts(self, payload: dict[str, Any], reply: Reply) -> tuple[str, str, int, int]:
        system = payload.get("system")
        system_text = system if isinstance(system, str) else _text_of(system)
        msgs = payload.get("messages") or []
        prompt = "\n".join([system_text, *(_text_of(m.get("content")) for m in msgs)])
        last_user = next((_text_of(m.get("content")) for m in reversed(msgs) if m.get("role") == "user"), "")
        text = "" if reply.tool_calls and reply.text is None else answer_text(last_user, reply)
        p, c = usage_of(prompt, text, reply)
        return prompt, text, p, c

    def _stop_reason(self, reply: Reply) -> str:
        return _STOP.get(reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"), "end_turn")

    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any:
        _, text, p, c = self._parts(payload, reply)
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [
            {"type": "tool_use", "id": t.id, "name": t.name, "input": t.arguments}
            for t in reply.tool_calls or []
        ]
        return {
            "id": self._id(),
            "type": "message",
            "role": "assistant",
            "model": payload.get("model", self.models[0]),
            "content": content,
            "stop_reason": self._stop_reason(reply),
            "stop_sequence": None,
            "usage": {"input_tokens": p, "output_tokens": c},
        }

    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]:
        _, text, p, c = self._parts(payload, reply)

        def ev(name: str, data: dict[str, Any]) -> Event:
            return name, orjson.dumps({"type": name, **data})

        message = {
            "id": self._id(),
            "type": "message",
            "role": "assistant",
            "model": payload.get("model", self.models[0]),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": p, "output_tokens": 1},
        }
        events = [ev("message_start", {"message": message}), ev("ping", {})]
        index = 0
        if text:
            events.append(
                ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            )
            for piece in pieces(text):
                events.append(
                    ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                )
            events.append(ev("content_block_stop", {"index": 0}))
            index = 1
        for t in reply.tool_calls or []:
            block = {"type": "tool_use", "id": t.id, "name": t.name, "input": {}}
            events.append(ev("content_block_start", {"index": index, "content_block": block}))
            args = orjson.dumps(t.arguments).decode()
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                part_delta = {"type": "input_json_delta", "partial_json": part}
                events.append(ev("content_block_delta", {"index": index, "delta": part_delta}))
            events.append(ev("content_block_stop", {"index": index}))
            index += 1
        final = {"stop_reason": self._stop_reason(reply), "stop_sequence": None}
        events.append(ev("message_delta", {"delta": final, "usage": {"output_tokens": c}}))
        events.append(ev("message_stop", {}))
        return events
