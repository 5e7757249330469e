"""An in-process trace of recent sessions: the default EventSink and TraceReader.

The gateway may add a store-backed sink for durable traces; this one keeps the newest sessions only.
"""

from __future__ import annotations

from collections import OrderedDict

from nexus.pipeline.events import Event


class MemoryTrace:
    def __init__(self, max_sessions: int = 2000, max_events: int = 20_000) -> None:
        self.max_sessions = max_sessions
        self.max_events = max_events
        self._sessions: OrderedDict[tuple[str, str], list[Event]] = OrderedDict()
        self._tenant_of: dict[str, str] = {}

    def record(self, tenant: str, event: Event) -> None:
        key = (tenant, event.session_id)
        events = self._sessions.get(key)
        if events is None:
            events = self._sessions[key] = []
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(key)
        if len(events) < self.max_events:
            events.append(event)

    async def session_events(self, tenant: str, session_id: str) -> list[Event] | None:
        events = self._sessions.get((tenant, session_id))
        return list(events) if events is not None else None
