"""Voice notes: the door hands the audio to a Transcriber and answers the text like a typed message.

Transcription belongs to the voice layer (its own issue); this is the seam it plugs into. Until a
transcriber is given, a voice note gets a clear "not configured" reply instead of silence.
"""

from __future__ import annotations

from typing import Protocol

from nexus.service.identity import Caller


class TranscriptionError(Exception):
    """The audio could not be transcribed; the message is safe to show the user."""


class Transcriber(Protocol):
    async def transcribe(self, caller: Caller, audio: bytes, *, mime_type: str) -> str:
        """The spoken text of `audio`. The caller is passed so admission and accounting apply to it."""
        ...


VOICE_NOT_CONFIGURED = (
    "Voice messages are not configured on this Nexus yet: please type your message instead."
)
