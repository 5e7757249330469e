"""Voice-activity segmentation: a stream of PCM16 becomes utterances.

WebRTC's VAD (the `webrtcvad-wheels` build of Google's GMM detector: no model file, no download,
~20 µs per 20 ms frame) classifies each frame; a small state machine around it turns frames into
events. An utterance starts after `start_ms` of consecutive voiced audio (so a click is not speech)
and carries a pre-roll of the audio just before, so its first syllable is not clipped; it ends after
`end_silence_ms` of silence, or at `max_s`. The segmenter is pure and synchronous: the voice session
feeds it whatever chunk sizes the client sends.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from nexus.voice.pcm import FRAME_BYTES, FRAME_MS, SAMPLE_RATE

PREROLL_MS = 300
# Frames quieter than this RMS (about -50 dBFS) are silence whatever the VAD says: WebRTC's detector
# calls steady low hiss "speech", and a line's noise floor must not open utterances.
MIN_RMS = 100.0


@dataclass(frozen=True, slots=True)
class SpeechStart:
    at_ms: int  # position in the stream where the voiced run began
    audio: bytes  # pre-roll and the voiced frames that triggered the start


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    audio: bytes


@dataclass(frozen=True, slots=True)
class SpeechEnd:
    at_ms: int
    reason: Literal["silence", "max_length", "flush"] = "silence"


VadEvent = SpeechStart | SpeechAudio | SpeechEnd


class Segmenter:
    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        start_ms: int = 60,
        end_silence_ms: int = 600,
        max_s: float = 30.0,
        min_rms: float = MIN_RMS,
    ) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self._min_rms = min_rms
        self._start_frames = max(1, start_ms // FRAME_MS)
        self._end_frames = max(1, end_silence_ms // FRAME_MS)
        self._max_frames = int(max_s * 1000 // FRAME_MS)
        self._pending = b""
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_MS // FRAME_MS)
        self._voiced_run: list[bytes] = []
        self._frame_no = 0
        self._speaking = False
        self._silent_frames = 0
        self._utterance_frames = 0

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def position_ms(self) -> int:
        return self._frame_no * FRAME_MS

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Events for this chunk of audio (any length; a partial frame waits for the next chunk)."""
        data = self._pending + pcm
        cut = len(data) - len(data) % FRAME_BYTES
        self._pending = data[cut:]
        out: list[VadEvent] = []
        for i in range(0, cut, FRAME_BYTES):
            self._frame(data[i : i + FRAME_BYTES], out)
        return out

    def flush(self) -> list[VadEvent]:
        """End the current utterance now (the client said its audio ended)."""
        self._pending = b""
        if not self._speaking:
            return []
        self._speaking = False
        return [SpeechEnd(self.position_ms, "flush")]

    def _frame(self, frame: bytes, out: list[VadEvent]) -> None:
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float32)
        loud = float(np.sqrt(np.mean(samples * samples))) >= self._min_rms
        voiced = loud and self._vad.is_speech(frame, SAMPLE_RATE)
        self._frame_no += 1
        if not self._speaking:
            if voiced:
                self._voiced_run.append(frame)
                if len(self._voiced_run) >= self._start_frames:
                    self._speaking = True
                    self._silent_frames = 0
                    self._utterance_frames = len(self._voiced_run)
                    at = (self._frame_no - len(self._voiced_run)) * FRAME_MS
                    out.append(SpeechStart(at, b"".join(self._preroll) + b"".join(self._voiced_run)))
                    self._preroll.clear()
                    self._voiced_run = []
                return
            for f in self._voiced_run:
                self._preroll.append(f)
            self._voiced_run = []
            self._preroll.append(frame)
            return
        self._utterance_frames += 1
        out.append(SpeechAudio(frame))
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        if self._silent_frames >= self._end_frames:
            self._speaking = False
            # The utterance ended where the silence began.
            out.append(SpeechEnd((self._frame_no - self._silent_frames) * FRAME_MS))
        elif self._utterance_frames >= self._max_frames:
            self._speaking = False
            out.append(SpeechEnd(self.position_ms, "max_length"))
