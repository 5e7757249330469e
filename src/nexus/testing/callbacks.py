"""A callback receiver on loopback: records each signed delivery, answers as scripted.

with CallbackReceiver() as hook:
    hook.push(Reply.error(503), Reply.error(500))     # two failures, then 200 (the default)
    ...  # give hook.url as the callback_url
    assert verify_signature(hook.last_request.body, hook.last_request.headers["x-nexus-signature"], secret)
"""

from __future__ import annotations

from typing import Any

import orjson

from nexus.testing.script import Reply
from nexus.testing.server import Event, FakeServer, RecordedRequest


class CallbackReceiver(FakeServer):
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, default: Reply | None = None) -> None:
        super().__init__(host=host, port=port, default=default)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    @property
    def deliveries(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        return "complete" if req.method == "POST" else None

    def models_body(self) -> Any:
        return {}

    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any:
        return {"received": True}

    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]:
        return []

    def error_body(self, status: int, message: str) -> bytes:
        return orjson.dumps({"error": message})
