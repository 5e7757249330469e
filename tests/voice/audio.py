"""Speech for the voice tests: espeak-ng (a Debian package, installed when missing, like chromium for
the browser test) says a sentence; the WAV becomes the 16 kHz PCM16 a voice client sends."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus.voice.pcm import FRAME_BYTES, FRAME_MS, read_wav, wav_bytes

ESPEAK = "espeak-ng"


@functools.cache
def espeak() -> str:
    """The espeak-ng binary, installed with apt-get when missing (the tests run as root in CI)."""
    found = shutil.which(ESPEAK)
    if found:
        return found
    subprocess.run(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng",
        shell=True,
        check=False,
        capture_output=True,
        timeout=600,
    )
    found = shutil.which(ESPEAK)
    if not found:
        raise RuntimeError("espeak-ng is missing and could not be installed (apt-get install espeak-ng)")
    return found


@functools.cache
def say(text: str, speed: int = 150) -> bytes:
    """`text` spoken by espeak-ng (US English), as 16 kHz mono PCM16."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "say.wav"
        subprocess.run([espeak(), "-v", "en-us", "-s", str(speed), "-w", str(out), text], check=True)
        return read_wav(out.read_bytes()).data


def say_wav(text: str) -> bytes:
    return wav_bytes(say(text))


def silence(ms: int) -> bytes:
    return b"\x00\x00" * (16 * ms)


@dataclass
class VoiceClient:
    """A /ws/voice client that streams audio in real time and collects the server's events, each with
    the time (time.monotonic) it arrived."""

    ws: Any
    events: list[dict[str, Any]] = field(default_factory=list)
    sent_ms: int = 0
    _reader: asyncio.Task[None] | None = None

    async def start(self) -> VoiceClient:
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        import websockets

        try:
            async for raw in self.ws:
                ev = json.loads(raw)
                ev["t"] = time.monotonic()
                self.events.append(ev)
        except websockets.ConnectionClosed:
            pass

    async def stream(self, pcm: bytes, *, realtime: bool = True) -> None:
        """Send audio as 20 ms frames, paced at real time against a clock (no drift under load)."""
        t0 = time.monotonic()
        for i in range(0, len(pcm), FRAME_BYTES):
            await self.ws.send(pcm[i : i + FRAME_BYTES])
            self.sent_ms += FRAME_MS
            if realtime:
                ahead = t0 + (i // FRAME_BYTES + 1) * FRAME_MS / 1000 - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.events:
                if pred(ev):
                    return ev
            await asyncio.sleep(0.01)
        raise AssertionError(f"no matching event in {timeout}s; got {[e['type'] for e in self.events]}")

    def of(self, kind: str, utterance: int | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == kind and (utterance is None or e["data"].get("utterance") == utterance)
        ]

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws/voice"
