"""systemd's service notification protocol (sd_notify): READY=1, WATCHDOG=1, STATUS=….

A datagram to the socket named by $NOTIFY_SOCKET ('@' = Linux abstract namespace); a no-op when not
started by systemd. Hand-written: it is a dozen lines, and the PyPI packages for it are unmaintained.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket


def notify(*lines: str) -> bool:
    """Send `lines` (e.g. "READY=1", "WATCHDOG=1") to systemd; False when there is no socket to tell."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(target)
            sock.sendall("\n".join(lines).encode())
        except OSError:
            return False
    return True


def watchdog_interval_s() -> float | None:
    """Half the watchdog timeout systemd set for this process (WATCHDOG_USEC), or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    with contextlib.suppress(ValueError):
        return max(0.5, int(usec) / 2_000_000)
    return None


async def watchdog(stop: asyncio.Event) -> None:
    """Tell systemd READY=1, then WATCHDOG=1 every half timeout while the event loop runs: a hung loop
    stops the pings and systemd restarts the process (Restart=on-failure, WatchdogSec=)."""
    notify("READY=1")
    every = watchdog_interval_s()
    if every is None:
        return
    while not stop.is_set():
        notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
