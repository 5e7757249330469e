"""FakeGemini: generateContent and streamGenerateContent?alt=sse for tests."""

from __future__ import annotations

from typing import Any

import orjson

from nexus.testing.script import Reply
from nexus.testing.server import Event, FakeServer, RecordedRequest, answer_text, pieces, usage_of

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_PREFIX = "/v1beta/models/"


def _text_of(content: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in content.get("parts") or [] if isinstance(p, dict))


class FakeGemini(FakeServer):
    """POST /v1beta/models/{model}:generateContent | :streamGenerateContent?alt=sse, GET /v1beta/models.

    `base_url` ends in /v1beta. With `api_key` set, requests without a matching x-goog-api-key get a 401.
    """

    def __init__(
        self, *, models: tuple[str, ...] = ("gemini-fake",), api_key: str | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.models = models
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        return self.url + "/v1beta"

    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        if req.method == "GET" and req.path == "/v1beta/models":
            return "models"
        if req.method == "POST" and req.path.startswith(_PREFIX):
            if req.path.endswith(":generateContent"):
                return "complete"
            if req.path.endswith(":streamGenerateContent") and req.query.get("alt") == "sse":
                return "stream"
        return None

    def auth_error(self, req: RecordedRequest) -> bytes | None:
        if self.api_key and req.headers.get("x-goog-api-key") != self.api_key:
            return self.error_body(401, "API key not valid. Please pass a valid API key.")
        return None

    def models_body(self) -> Any:
        return {"models": [{"name": f"models/{m}", "displayName": m} for m in self.models]}

    def error_body(self, status: int, message: str) -> bytes:
        return orjson.dumps(
            {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}
        )

    def _parts(self, payload: dict[str, Any], reply: Reply) -> tuple[str, int, int]:
        contents = payload.get("contents") or []
        system = _text_of(payload.get("systemInstruction") or {})
        prompt = "\n".join([system, *(_text_of(c) for c in contents)])
        last_user = next((_text_of(c) for c in reversed(contents) if c.get("role") == "user"), "")
        text = "" if reply.tool_calls and reply.text is None else answer_text(last_user, reply)
        p, c = usage_of(prompt, text, reply)
        return text, p, c

    @staticmethod
    def _model(req: RecordedRequest) -> str:
        return req.path[len(_PREFIX) :].split(":", 1)[0]

    def _response(
        self, req: RecordedRequest, parts: list[dict[str, Any]], finish: str | None, p: int, c: int
    ) -> Any:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c},
            "modelVersion": self._model(req),
            "responseId": "fake-response",
        }

    def _finish(self, reply: Reply) -> str:
        return _FINISH.get(reply.finish_reason or "stop", "STOP")

    def _calls(self, reply: Reply) -> list[dict[str, Any]]:
        return [{"functionCall": {"name": t.name, "args": t.arguments}} for t in reply.tool_calls or []]

    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any:
        text, p, c = self._parts(payload, reply)
        parts = ([{"text": text}] if text else []) + self._calls(reply)
        return self._response(req, parts, self._finish(reply), p, c)

    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]:
        text, p, c = self._parts(payload, reply)
        chunks = pieces(text) if text else []
        events: list[Event] = []
        for i, piece in enumerate(chunks):
            done = i == len(chunks) - 1 and not reply.tool_calls
            body = self._response(
                req, [{"text": piece}], self._finish(reply) if done else None, p, c if done else i + 1
            )
            events.append((None, orjson.dumps(body)))
        if reply.tool_calls or not chunks:
            events.append(
                (None, orjson.dumps(self._response(req, self._calls(reply), self._finish(reply), p, c)))
            )
        return events
