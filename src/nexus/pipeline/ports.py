"""What the pipeline needs from its collaborators, as small Protocols.

The real implementations live in `routing` (classifier, router) and `guard` (QA); the gateway wires
persistence through an `EventSink`. Keeping the seams here lets the graph be tested with any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from nexus.pipeline.events import Event
from nexus.routing.base import Classification, Decision, RouteContext


class ClassifierLike(Protocol):
    def classify(self, text: str) -> Classification: ...


class RouterLike(Protocol):
    def decide(
        self, text_or_messages: str | Sequence[Any], context: RouteContext | None = None
    ) -> Decision: ...

    async def adecide(
        self, text_or_messages: str | Sequence[Any], context: RouteContext | None = None
    ) -> Decision: ...


class EventSink(Protocol):
    """Receives every event (with its tenant) as it is emitted; must not block (queue it, write later)."""

    def __call__(self, tenant: str, event: Event) -> None: ...


class TraceReader(Protocol):
    """Every stored event of a tenant's session, oldest first; None when the session is unknown."""

    async def session_events(self, tenant: str, session_id: str) -> list[Event] | None: ...
