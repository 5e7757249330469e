"""Voice use cases: transcription and speech, admitted and accounted like a chat turn.

    caller → admission (rate limits, hard budgets) → guard (tenant model allow-list; speech text masked)
           → work order (route "transcription" | "speech") → metered call (Meter → Ledger) → result

`POST /v1/audio/*` call `transcribe` / `speak`: each request is one unit of model work. On
`/ws/voice` (service/voice_session.py) an utterance is one unit: its chat turn is admitted by
`ChatService.turn`; its transcription (and the answer's speech) are metered under their own work
orders and charged to the same budgets, and a used-up hard budget stops an utterance before any audio
is sent upstream.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nexus.config.settings import Settings
from nexus.providers.audio import (
    AudioHub,
    AudioModelError,
    MeteredAudio,
    Speech,
    SpeechRequest,
    Transcription,
    TranscriptionRequest,
)
from nexus.providers.errors import ProviderError
from nexus.providers.metering import call_context
from nexus.providers.tokens import estimate_tokens
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.accounting import Ledger
from nexus.service.admission import Admission
from nexus.service.chat import ChatService, _error_text
from nexus.service.errors import ServiceError, forbidden, invalid
from nexus.service.guarding import RequestGuard
from nexus.service.identity import Caller
from nexus.service.sessions import check_session_id
from nexus.voice.pcm import AudioError

T = TypeVar("T")


def audio_model_error(exc: AudioModelError) -> ServiceError:
    what = "transcription" if exc.capability == "audio_in" else "speech"
    return invalid(
        f"The model {exc.model!r} does not do {what}; use one of: {', '.join(exc.able) or 'none configured'} "
        f"(a catalogue entry with 'capabilities: [{exc.capability}]').",
        code="unsupported_capability",
        param="model",
    )


class VoiceService:
    def __init__(
        self,
        *,
        settings: Settings,
        audio: AudioHub,
        admission: Admission,
        guard: RequestGuard,
        ledger: Ledger,
        chat: ChatService,
    ) -> None:
        self.settings = settings
        self.audio = audio
        self.admission = admission
        self.guard = guard
        self.ledger = ledger
        self.chat = chat

    # -- resolving -----------------------------------------------------------------------------------
    def transcriber(self, name: str) -> MeteredAudio:
        try:
            return self.audio.transcriber(name)
        except AudioModelError as exc:
            raise audio_model_error(exc) from None

    def synthesizer(self, name: str) -> MeteredAudio:
        try:
            return self.audio.synthesizer(name)
        except AudioModelError as exc:
            raise audio_model_error(exc) from None

    @property
    def chat_model(self) -> str:
        return self.settings.voice_model or self.chat.hub.catalogue.role("default")

    # -- the HTTP use cases ----------------------------------------------------------------------------
    async def transcribe(self, caller: Caller, model: str, request: TranscriptionRequest) -> Transcription:
        target = self.transcriber(model)
        seconds = request.seconds or 0.0
        await self.admission.admit(caller.principal, lambda: round(seconds * 10))
        await self.check_model(caller, target.entry.id, "")
        return await self.metered(caller, "transcription", model, target, lambda: target.transcribe(request))

    async def speak(self, caller: Caller, model: str, request: SpeechRequest) -> Speech:
        target = self.synthesizer(model)
        await self.admission.admit(caller.principal, lambda: estimate_tokens(request.input))
        text = await self.check_model(caller, target.entry.id, request.input)
        masked = request.model_copy(update={"input": text})
        return await self.metered(caller, "speech", model, target, lambda: target.speak(masked))

    # -- shared by both doors -------------------------------------------------------------------------
    async def check_model(self, caller: Caller, model_id: str, text: str) -> str:
        """The tenant's guard policy on this call: its model allow-list (403 like an explicit chat model
        outside it) and, for text that will reach an upstream (speech), the input guard: masked or
        blocked (GuardBlocked → 400), audited. Returns the text as it may be sent."""
        body = ChatRequest(model=model_id, messages=[ChatMessage(role="user", content=text)])
        outcome = await self.guard.check_request(caller, body, routed=True)
        allowed = outcome.allowed_models
        if allowed is not None and model_id not in allowed:
            raise forbidden(f"The model {model_id!r} is not allowed for this tenant.")
        return outcome.request.messages[0].text()

    async def claim_session(self, caller: Caller, session_id: str) -> str:
        """A voice connection names its session up front: another tenant's is refused (404) before any
        audio is heard, as a chat turn on it would be."""
        checked = check_session_id(session_id)
        await self.chat.sessions.claim(caller.tenant, checked)
        return checked

    async def open_order(self, caller: Caller, route: str, model: str) -> tuple[str, dict[str, str]]:
        """A work order for one audio unit and the metering context its calls carry."""
        wo_id = await self.ledger.open(caller, route=route, model_requested=model)
        return wo_id, {**self.chat._meter(caller, wo_id), "role": route}

    def close_order(self, wo_id: str, target: MeteredAudio, error: BaseException | None) -> None:
        if error is None:
            status, text = "done", None
        elif isinstance(error, ProviderError):
            status, text = "failed", _error_text(error)
        elif isinstance(error, AudioError):
            status, text = "failed", f"invalid_audio: {error}"[:500]
        else:
            status, text = "cancelled", None
        entry = target.entry
        self.ledger.close(wo_id, status, error=text, owner_model=entry.id, provider=entry.provider)

    async def metered(
        self, caller: Caller, route: str, model: str, target: MeteredAudio, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Run one audio call under its own work order (done | failed | cancelled)."""
        wo_id, meter = await self.open_order(caller, route, model)
        token = call_context.set(meter)
        try:
            out = await call()
        except BaseException as exc:
            self.close_order(wo_id, target, exc)
            if isinstance(exc, AudioError):
                raise invalid(str(exc), code="invalid_audio", param="file") from None
            raise
        finally:
            call_context.reset(token)
        self.close_order(wo_id, target, None)
        return out

    def metered_context(self, meter: dict[str, str]) -> contextvars.Context:
        """A context whose calls are metered to `meter` (for tasks a live session spawns)."""
        ctx = contextvars.copy_context()
        ctx.run(call_context.set, meter)
        return ctx
