"""PCM16 and WAV: what the voice doors accept, checked before any model sees it.

The duplex door speaks 16 kHz mono little-endian PCM16 (what WebRTC's VAD and the offline
transcriber take). Uploads are sniffed by their magic bytes rather than trusted by file name, so a
text file called `x.wav` is a clear 400, not an upstream's puzzling error.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
SAMPLE_BYTES = 2
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * SAMPLE_BYTES * FRAME_MS // 1000  # 640

# The containers OpenAI's transcription endpoint takes, by file extension.
EXTENSIONS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm")
CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "mp4": "audio/mp4",
}


class AudioError(ValueError):
    """The bytes are not audio we can take; the message says what is wrong (a 400 at the door)."""


def sniff(data: bytes) -> str | None:
    """The container by its magic bytes: wav, mp3, flac, ogg, webm or mp4; None when not audio."""
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


@dataclass(frozen=True, slots=True)
class Pcm:
    """Mono 16 kHz PCM16 samples (little-endian bytes)."""

    data: bytes

    @property
    def seconds(self) -> float:
        return len(self.data) / (SAMPLE_RATE * SAMPLE_BYTES)


def read_wav(data: bytes) -> Pcm:
    """A WAV file as 16 kHz mono PCM16: channels are mixed down and other rates resampled."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a readable WAV file ({exc})") from None
    if width != SAMPLE_BYTES:
        raise AudioError(f"WAV files must be 16-bit PCM (this one has {8 * width}-bit samples)")
    if not frames:
        raise AudioError("the WAV file holds no audio")
    samples = np.frombuffer(frames[: len(frames) - len(frames) % (width * channels)], dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype("<i2")
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate)
    return Pcm(samples.astype("<i2").tobytes())


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """PCM16 samples at `rate` → 16 kHz (polyphase filter, so no aliasing from a plain decimation)."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, SAMPLE_RATE)
    out = resample_poly(samples.astype(np.float32), SAMPLE_RATE // g, rate // g)
    return np.clip(np.round(out), -32768, 32767).astype("<i2")


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """Mono PCM16 as a WAV file (what a transcription upstream is sent for an utterance)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_BYTES)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def wav_seconds(data: bytes) -> float | None:
    """A WAV file's duration from its header; None for other containers or a broken header."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (wave.Error, EOFError):
        return None
