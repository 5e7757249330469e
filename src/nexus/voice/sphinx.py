"""The offline transcriber `nexus-asr`: CMU PocketSphinx with the US-English model its wheel ships.

No download, no GPU, no key: it is what the demo transcribes with, and the default transcriber of
`/ws/voice`. It decodes incrementally, so partial transcripts cost nothing extra while the user speaks.
It is a small 2010s-era HMM recogniser: fine for short, clear commands, far below a modern model on
open speech — docs/voice.md gives its measured word error rate. Decoders load in about a second, so a
small pool keeps them warm; decoding runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

from nexus.config.catalogue import ModelEntry
from nexus.providers.audio import Transcription, TranscriptionRequest, audio_usage
from nexus.providers.base import CostMixin
from nexus.voice.pcm import SAMPLE_BYTES, SAMPLE_RATE, AudioError, read_wav, sniff

# Tighter pruning than pocketsphinx's defaults: about 4x less CPU for the same words on our test set
# (bench/bench_voice.py measures both), which keeps live decoding ahead of real time on a busy host.
DECODER_OPTIONS: dict[str, Any] = {
    "samprate": SAMPLE_RATE,
    "maxhmmpf": 2000,
    "maxwpf": 10,
    "loglevel": "FATAL",
}
# Decode at least this much new audio per step: fewer, larger steps cost less than one per 20 ms frame.
STEP_BYTES = SAMPLE_RATE * SAMPLE_BYTES // 10
PartialSink = Callable[[str], None]


class DecoderPool:
    """Idle decoders, reused across utterances (a decoder is single-threaded; one per live utterance)."""

    def __init__(self, options: dict[str, Any] | None = None, size: int = 4) -> None:
        self.options = dict(options or DECODER_OPTIONS)
        self.size = size
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        from pocketsphinx import Decoder

        return Decoder(**self.options)

    def give(self, decoder: Any) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(decoder)

    def warm(self) -> None:
        """Load one decoder ahead of the first utterance (about a second of CPU)."""
        self.give(self.take())


POOL = DecoderPool()


def _decode(decoder: Any, pcm: bytes) -> str:
    decoder.start_utt()
    try:
        decoder.process_raw(pcm, False, True)
    finally:
        decoder.end_utt()
    hyp = decoder.hyp()
    return str(hyp.hypstr) if hyp is not None else ""


class LocalTranscriber(CostMixin):
    def __init__(self, entry: ModelEntry, pool: DecoderPool | None = None) -> None:
        self.entry = entry
        self.pool = pool or POOL

    async def transcribe(self, request: TranscriptionRequest) -> Transcription:
        if sniff(request.audio) != "wav":
            raise AudioError(
                "the offline transcriber (nexus-asr) reads WAV files only; send 16-bit PCM WAV, or use "
                "a catalogue transcription model for mp3, ogg, webm…"
            )
        pcm = read_wav(request.audio)
        text = await asyncio.to_thread(self._decode, pcm.data)
        return Transcription(
            text=text, language="english", duration=pcm.seconds, usage=audio_usage(pcm.seconds, text)
        )

    def _decode(self, pcm: bytes) -> str:
        decoder = self.pool.take()
        try:
            return _decode(decoder, pcm)
        finally:
            self.pool.give(decoder)

    def open_live(self, on_partial: PartialSink) -> SphinxLive:
        return SphinxLive(self.pool, on_partial)


class SphinxLive:
    """One utterance decoded as it arrives: `feed` never blocks; a task decodes what has accumulated
    in a worker thread and reports each new hypothesis; `finish` drains it and gives the transcript."""

    def __init__(self, pool: DecoderPool, on_partial: PartialSink) -> None:
        self._pool = pool
        self._on_partial = on_partial
        self._buf = bytearray()
        self._fed = 0
        self._wake = asyncio.Event()
        self._finishing = False
        self._last = ""
        self._decoder: Any = None
        # A cancelled step may still be running in its thread: the decoder is touched under this lock.
        self._lock = threading.Lock()
        self._task = asyncio.create_task(self._run())

    @property
    def seconds(self) -> float:
        return self._fed / (SAMPLE_RATE * SAMPLE_BYTES)

    def feed(self, pcm: bytes) -> None:
        self._buf += pcm
        self._fed += len(pcm)
        if len(self._buf) >= STEP_BYTES:
            self._wake.set()

    async def _run(self) -> None:
        self._decoder = await asyncio.to_thread(self._start)
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._buf:
                chunk = bytes(self._buf)
                self._buf.clear()
                hyp = await asyncio.to_thread(self._step, chunk)
                if hyp and hyp != self._last and not self._finishing:
                    self._last = hyp
                    self._on_partial(hyp)
            if self._finishing and not self._buf:
                return

    def _start(self) -> Any:
        decoder = self._pool.take()
        decoder.start_utt()
        return decoder

    def _step(self, chunk: bytes) -> str:
        with self._lock:
            if self._decoder is None:
                return ""
            self._decoder.process_raw(chunk, False, False)
            hyp = self._decoder.hyp()
        return str(hyp.hypstr) if hyp is not None else ""

    def _end(self) -> str:
        with self._lock:
            if self._decoder is None:
                return ""
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            self._pool.give(self._decoder)
            self._decoder = None
        return str(hyp.hypstr) if hyp is not None else ""

    async def finish(self) -> Transcription:
        self._finishing = True
        self._wake.set()
        await self._task
        text = await asyncio.to_thread(self._end)
        return Transcription(
            text=text, language="english", duration=self.seconds, usage=audio_usage(self.seconds, text)
        )

    async def aclose(self) -> None:
        """Abandon the utterance; the decoder goes back to the pool once its current step is done."""
        self._finishing = True
        self._buf.clear()
        self._wake.set()
        if not self._task.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._task)
        if self._decoder is not None:
            await asyncio.to_thread(self._end)


def create(entry: ModelEntry) -> LocalTranscriber:
    return LocalTranscriber(entry)
