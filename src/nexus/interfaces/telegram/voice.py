"""Voice notes: the door hands the audio to a Transcriber and answers the text like a typed message.

Transcription belongs to the voice layer: `ServiceTranscriber` sends the note through the gateway's
VoiceService (admission, budgets and accounting as for `/v1/audio/transcriptions`) to the catalogue model
named by NEXUS_TELEGRAM_TRANSCRIBER, or else the first catalogue model with the `audio_in` capability.
Telegram voice notes are OGG/Opus: the offline transcriber (`nexus-asr`, WAV only) is used only when named.
Without a transcriber, a voice note gets a clear "not configured" reply instead of silence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nexus.providers.audio import LOCAL_ASR, TranscriptionRequest
from nexus.service.errors import ServiceError
from nexus.service.identity import Caller

if TYPE_CHECKING:
    from nexus.runtime import Services
    from nexus.service.voice import VoiceService


class TranscriptionError(Exception):
    """The audio could not be transcribed; the message is safe to show the user."""


class Transcriber(Protocol):
    async def transcribe(self, caller: Caller, audio: bytes, *, mime_type: str) -> str:
        """The spoken text of `audio`. The caller is passed so admission and accounting apply to it."""
        ...


VOICE_NOT_CONFIGURED = (
    "Voice messages are not configured on this Nexus yet: please type your message instead."
)

EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
}


class ServiceTranscriber:
    """A voice note → text through the VoiceService (the caller's tenant is admitted and charged)."""

    def __init__(self, voice: VoiceService, model: str) -> None:
        self.voice = voice
        self.model = model

    async def transcribe(self, caller: Caller, audio: bytes, *, mime_type: str) -> str:
        kind = mime_type.split(";")[0].strip().lower()
        request = TranscriptionRequest(
            audio=audio, filename=f"voice.{EXTENSIONS.get(kind, 'ogg')}", content_type=kind or "audio/ogg"
        )
        try:
            result = await self.voice.transcribe(caller, self.model, request)
        except ServiceError as exc:
            raise TranscriptionError(exc.message) from None
        return result.text


def default_transcriber(services: Services) -> Transcriber | None:
    """The configured transcriber, else the first remote `audio_in` model of the catalogue, else none."""
    name = services.settings.telegram_transcriber or next(
        (n for n in services.voice.audio.names("audio_in") if n != LOCAL_ASR), None
    )
    return ServiceTranscriber(services.voice, name) if name else None
