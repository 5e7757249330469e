"""A live transcript of one utterance, whatever the transcriber.

The offline transcriber decodes as audio arrives (partials for free). A remote one transcribes whole
files, so the utterance is buffered and sent when it ends; with a partial interval set, the audio so
far is also re-sent every interval for a partial transcript (each one a metered call, at most one in
flight). Either way `finish` gives the utterance's transcript and the call is on the Meter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from nexus.providers.audio import MeteredAudio, Transcription, TranscriptionRequest
from nexus.voice.pcm import SAMPLE_BYTES, SAMPLE_RATE, wav_bytes
from nexus.voice.sphinx import LocalTranscriber, PartialSink, SphinxLive


class LiveTranscript(Protocol):
    def feed(self, pcm: bytes) -> None: ...

    async def finish(self) -> Transcription: ...

    async def aclose(self) -> None: ...


def open_live(
    transcriber: MeteredAudio, on_partial: PartialSink, *, language: str | None, partial_interval_s: float
) -> LiveTranscript:
    if isinstance(transcriber.inner, LocalTranscriber):
        return _MeteredLive(transcriber, transcriber.inner.open_live(on_partial))
    return BufferedLive(transcriber, on_partial, language=language, interval_s=partial_interval_s)


class _MeteredLive:
    """The offline decoder's live session, recorded on the Meter as one call when it finishes."""

    def __init__(self, meter: MeteredAudio, live: SphinxLive) -> None:
        self._meter = meter
        self._live = live
        self._started = time.perf_counter()

    def feed(self, pcm: bytes) -> None:
        self._live.feed(pcm)

    async def finish(self) -> Transcription:
        try:
            out = await self._live.finish()
        except BaseException as exc:
            self._meter.record(None, self._started, exc)
            raise
        self._meter.record(out.usage, self._started)
        return out

    async def aclose(self) -> None:
        await self._live.aclose()


class BufferedLive:
    def __init__(
        self, transcriber: MeteredAudio, on_partial: PartialSink, *, language: str | None, interval_s: float
    ) -> None:
        self._t = transcriber
        self._on_partial = on_partial
        self._language = language
        self._interval = interval_s
        self._pcm = bytearray()
        self._last_partial_at = 0
        self._partial: asyncio.Task[None] | None = None
        self._closed = False

    def feed(self, pcm: bytes) -> None:
        self._pcm += pcm
        due = len(self._pcm) - self._last_partial_at >= self._interval * SAMPLE_RATE * SAMPLE_BYTES
        if self._interval > 0 and due and (self._partial is None or self._partial.done()):
            self._last_partial_at = len(self._pcm)
            self._partial = asyncio.create_task(self._read_partial(bytes(self._pcm)))

    def _request(self, pcm: bytes) -> TranscriptionRequest:
        return TranscriptionRequest(
            audio=wav_bytes(pcm),
            filename="utterance.wav",
            language=self._language,
            seconds=len(pcm) / (SAMPLE_RATE * SAMPLE_BYTES),
        )

    async def _read_partial(self, pcm: bytes) -> None:
        with contextlib.suppress(Exception):  # a failed partial is only a missed preview
            out = await self._t.transcribe(self._request(pcm))
            if out.text and not self._closed:
                self._on_partial(out.text)

    async def finish(self) -> Transcription:
        await self._cancel_partial()
        self._closed = True
        return await self._t.transcribe(self._request(bytes(self._pcm)))

    async def aclose(self) -> None:
        self._closed = True
        await self._cancel_partial()

    async def _cancel_partial(self) -> None:
        if self._partial is not None and not self._partial.done():
            self._partial.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._partial
