"""The events of `/ws/voice`, one payload model per type (the style of pipeline/events.py).

Wire form: `{"type": ..., "data": {...}}`, one JSON text message each. `utterance` numbers the user's
utterances on the connection from 1; an answer's events carry the utterance they answer.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

VoiceEventType = Literal[
    "ready",
    "speech_started",
    "speech_stopped",
    "partial_transcript",
    "transcript",
    "token",
    "final",
    "audio",
    "barge_in",
    "error",
]


class VoicePayload(BaseModel):
    model_config = ConfigDict(extra="allow")
    TYPE: ClassVar[VoiceEventType]


class ReadyData(VoicePayload):
    """Sent once on connect: what the server expects and will do."""

    TYPE = "ready"
    sample_rate: int = 16_000
    frame_ms: int = 20
    transcriber: str = ""
    model: str = ""
    speech: bool = False


class SpeechStartedData(VoicePayload):
    TYPE = "speech_started"
    utterance: int = 0
    at_ms: int = 0  # where the speech began in the connection's audio


class SpeechStoppedData(VoicePayload):
    TYPE = "speech_stopped"
    utterance: int = 0
    at_ms: int = 0
    reason: str = "silence"


class PartialTranscriptData(VoicePayload):
    TYPE = "partial_transcript"
    utterance: int = 0
    text: str = ""


class TranscriptData(VoicePayload):
    TYPE = "transcript"
    utterance: int = 0
    text: str = ""
    seconds: float = 0.0
    work_order_id: str = ""


class VoiceTokenData(VoicePayload):
    TYPE = "token"
    utterance: int = 0
    text: str = ""


class VoiceFinalData(VoicePayload):
    TYPE = "final"
    utterance: int = 0
    answer: str = ""
    model: str | None = None
    work_order_id: str = ""
    session_id: str | None = None
    tokens: dict[str, int] = Field(default_factory=dict)
    cost_usd: float = 0.0


class AudioData(VoicePayload):
    """A spoken piece of the answer (base64 of the speech model's output)."""

    TYPE = "audio"
    utterance: int = 0
    format: str = "wav"
    text: str = ""
    audio_b64: str = ""


class BargeInData(VoicePayload):
    """The user spoke over the answer to `utterance`: its generation was cancelled upstream and the
    assistant's turn kept only what had been delivered."""

    TYPE = "barge_in"
    utterance: int = 0
    delivered: str = ""
    cancel_ms: float = 0.0


class VoiceErrorData(VoicePayload):
    TYPE = "error"
    message: str = ""
    code: str | None = None
    status: int | None = None
    utterance: int | None = None


class VoiceEvent(BaseModel):
    type: VoiceEventType
    data: SerializeAsAny[VoicePayload]

    @classmethod
    def of(cls, payload: VoicePayload) -> VoiceEvent:
        return cls(type=payload.TYPE, data=payload)

    def json_text(self) -> str:
        return orjson.dumps(self.model_dump(mode="json")).decode()

    @staticmethod
    def parse(raw: str | bytes) -> dict[str, Any]:
        """A received event as a plain dict (what clients and tests read)."""
        out: dict[str, Any] = orjson.loads(raw)
        return out
