"""FakeHTTP: a scripted HTTP endpoint answering any method and path (for tests of outbound calls).

Every request is recorded; the next queued `Reply` answers it: `Reply(text=...)` or `Reply(body=...)`
sends that body with its status, `Reply.error(503)` an error body, `Reply(status=302, body=b"",
headers={"location": ...})` a redirect. With nothing queued, `default` answers: a JSON echo of the
request. Request bodies must be JSON (or empty), as for the other fakes.
"""

from __future__ import annotations

from typing import Any

import orjson

from nexus.testing.script import Reply
from nexus.testing.server import Event, FakeServer, RecordedRequest


class FakeHTTP(FakeServer):
    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        return "complete"

    def models_body(self) -> Any:
        return {}

    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any:
        if reply.text is not None:
            return {"text": reply.text}
        return {"method": req.method, "path": req.path, "query": req.query, "json": payload or None}

    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]:
        return []

    def error_body(self, status: int, message: str) -> bytes:
        return orjson.dumps({"error": {"status": status, "message": message}})
