"""A streaming door's events, bounded by the server's shutdown: once the graceful bound has passed
(gateway/server.py fires its ShutdownSignal), the turn is cut — its work order says `interrupted`, its
model call is recorded `cancelled` with the tokens produced — and the door sends a final error event.

A streaming client that goes away (its events closed or cancelled before their end) stops the turn's
work: a routed run is cancelled like the explicit path's upstream call, so its work order says
`cancelled` with the tokens produced up to then, charged to the budget — nobody is left to read the
rest, and a client must not be able to leave a run spending on its behalf."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import HTTPConnection

from nexus.gateway.server import ShutdownSignal, ShuttingDown, until_shutdown
from nexus.pipeline.events import Event
from nexus.service.chat import Turn

SHUTDOWN_CODE = "server_shutting_down"
SHUTDOWN_MESSAGE = "The server is shutting down; the answer was cut. Retry the request."


def shutdown_of(conn: HTTPConnection) -> ShutdownSignal:
    signal: ShutdownSignal = conn.app.state.shutdown
    return signal


async def turn_events(
    turn: Turn, signal: ShutdownSignal, events: AsyncIterator[Event] | None = None
) -> AsyncIterator[Event]:
    """`turn`'s events (or `events`, the rest of them) until the shutdown signal fires; then the turn is
    marked interrupted and ShuttingDown is raised for the door to render."""
    try:
        async for event in until_shutdown(events if events is not None else turn.events, signal):
            yield event
    except ShuttingDown:
        turn.closing.reason = "interrupted"
        raise
    except (GeneratorExit, asyncio.CancelledError):
        # After the shutdown bound the process is stopping: its lifespan marks runs `interrupted`.
        if not signal.is_set() and turn.stop_run is not None:
            turn.stop_run()
        raise
