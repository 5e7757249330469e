"""WS /ws/voice: the duplex voice door.

Client → server: binary messages of 16 kHz mono PCM16 (little-endian, any length), and JSON control
messages: {"type": "start", "session_id"?, "language"?, "transcriber"?, "speech_model"?} before the
audio; {"type": "flush"} (the audio ended: end the utterance now); {"type": "cancel"} (stop the
answer). Server → client: one JSON message per event (nexus.voice.events): ready, speech_started,
partial_transcript, speech_stopped, transcript, token, final, audio, barge_in, error. The turn's
policy is the ChatService's; the state machine is service/voice_session.py; this route only moves bytes and renders events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError

from nexus.gateway.deps import accept_websocket, services_of
from nexus.service.errors import invalid
from nexus.service.sessions import SESSION_ID_RULE
from nexus.service.voice_session import VoiceSession
from nexus.voice.events import VoiceErrorData, VoiceEvent

log = logging.getLogger("nexus.gateway")
router = APIRouter(tags=["voice"])
DOOR = "voice"
# Audio arrives in real time; a client far ahead of it is buffered up to this much, then refused.
MAX_MESSAGE_BYTES = 1 << 20


class Control(BaseModel):
    type: str = Field(pattern="^(start|flush|cancel)$")
    session_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description=SESSION_ID_RULE
    )
    language: str | None = Field(default=None, max_length=16)
    transcriber: str | None = Field(
        default=None, max_length=128, description="nexus-asr or an audio_in entry"
    )
    speech_model: str | None = Field(default=None, max_length=128, description="an audio_out entry")


def _control(raw: str) -> Control:
    try:
        return Control.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        raise invalid(
            'Expected a control message: {"type": "start" | "flush" | "cancel", ...}, or binary PCM16 audio.',
            code="invalid_message",
        ) from None


@router.websocket("/ws/voice")
async def ws_voice(ws: WebSocket) -> None:
    caller = await accept_websocket(ws, DOOR)
    if caller is None:
        return
    services = services_of(ws)
    out: asyncio.Queue[VoiceEvent | None] = asyncio.Queue()
    session = VoiceSession(services.voice, caller, out.put_nowait)

    async def writer() -> None:
        while (event := await out.get()) is not None:
            await ws.send_text(event.json_text())

    sending = asyncio.create_task(writer())
    refused = False
    session.ready()
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            if msg.get("bytes") is not None:
                if len(msg["bytes"]) > MAX_MESSAGE_BYTES or len(msg["bytes"]) % 2:
                    session.emit(
                        VoiceErrorData(
                            message="Audio messages are 16-bit PCM: an even number of bytes, at most 1 MiB.",
                            code="invalid_audio",
                            status=400,
                        )
                    )
                    continue
                await session.audio(msg["bytes"])
                continue
            try:
                ctl = _control(msg.get("text") or "")
            except Exception as exc:
                session.report_error(exc, None)
                continue
            if ctl.type == "start":
                if ctl.session_id:
                    try:
                        session.session_id = await services.voice.claim_session(caller, ctl.session_id)
                    except Exception as exc:  # another tenant's session: refused, and the call ends
                        session.report_error(exc, None)
                        refused = True
                        break
                session.language = ctl.language or session.language
                session.transcriber = ctl.transcriber or session.transcriber
                session.speech_model = ctl.speech_model or session.speech_model
            elif ctl.type == "flush":
                await session.flush()
            else:
                await session.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()
        out.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sending, 5)
        sending.cancel()
        if refused:
            with contextlib.suppress(Exception):
                await ws.close(code=1008)
