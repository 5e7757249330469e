"""The voice turn state machine: one `/ws/voice` connection, audio in, typed events out.

    listening ─speech─▶ hearing (partial transcripts) ─silence─▶ transcribing ─▶ answering ─▶ listening
                                ▲                                                    │
                                └──────────── speech while answering: barge-in ──────┘

- Audio is segmented by the VAD (nexus.voice.vad); an utterance's audio feeds a live transcript
  (nexus.voice.live) whose partial hypotheses go out as they change.
- At the end of an utterance its transcript is a chat turn through `ChatService.turn` (door "voice";
  admission, guard, sessions, routing and accounting are the service's). The conversation is kept
  here and sent whole (`client_history`), so a barged-in answer is kept exactly as far as it was heard.
- Barge-in: speech detected while an answer is being transcribed, generated or spoken cancels that
  work at once: the turn is closed (the explicit path cancels its upstream call), the assistant's turn
  is truncated to what was delivered, and the new utterance begins.
- Silence (or noise the transcriber hears as nothing) produces no turn.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from nexus.pipeline.events import ChunkData, ErrorData, FinalData, InterruptData, TokenData, TokenTotals
from nexus.providers.audio import MeteredAudio, SpeechRequest
from nexus.providers.types import ChatMessage, ChatRequest, Usage
from nexus.service.chat import Turn, TurnRequest
from nexus.service.errors import as_service_error, invalid
from nexus.service.identity import Caller
from nexus.service.voice import VoiceService
from nexus.voice.events import (
    AudioData,
    BargeInData,
    PartialTranscriptData,
    ReadyData,
    SpeechStartedData,
    SpeechStoppedData,
    TranscriptData,
    VoiceErrorData,
    VoiceEvent,
    VoiceFinalData,
    VoicePayload,
    VoiceTokenData,
)
from nexus.voice.live import LiveTranscript, open_live
from nexus.voice.pcm import AudioError
from nexus.voice.vad import Segmenter, SpeechAudio, SpeechEnd, SpeechStart

Emit = Callable[[VoiceEvent], None]
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class _Utterance:
    n: int
    wo_id: str
    live: LiveTranscript
    target: MeteredAudio
    meter: dict[str, str]
    closed: bool = False


@dataclass
class _Answer:
    n: int
    task: asyncio.Task[None] | None = None
    delivered: list[str] = field(default_factory=list)
    turn: Turn | None = None


class VoiceSession:
    def __init__(
        self,
        service: VoiceService,
        caller: Caller,
        emit: Emit,
        *,
        session_id: str | None = None,
        language: str | None = None,
    ) -> None:
        s = service.settings
        self.service = service
        self.caller = caller
        self._emit = emit
        self.session_id = session_id
        self.language = language
        self.model = service.chat_model
        self.transcriber = s.voice_transcriber
        self.speech_model = s.voice_speech_model or None
        self.segmenter = Segmenter(
            aggressiveness=s.voice_vad_aggressiveness,
            start_ms=s.voice_start_ms,
            end_silence_ms=s.voice_end_silence_ms,
            max_s=s.voice_max_utterance_s,
        )
        self.history: list[ChatMessage] = []
        self.turns = 0  # chat turns started
        self._n = 0
        self._hearing: _Utterance | None = None
        self._answer: _Answer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, payload: VoicePayload) -> None:
        self._emit(VoiceEvent.of(payload))

    def ready(self) -> None:
        self.emit(
            ReadyData(
                transcriber=self.transcriber,
                model=self.model,
                speech=self.speech_model is not None,
            )
        )

    # -- input -----------------------------------------------------------------------------------------
    async def audio(self, pcm: bytes) -> None:
        for ev in self.segmenter.feed(pcm):
            if isinstance(ev, SpeechStart):
                await self._speech_started(ev)
            elif isinstance(ev, SpeechAudio):
                if self._hearing is not None:
                    self._hearing.live.feed(ev.audio)
            elif isinstance(ev, SpeechEnd):
                self._speech_ended(ev)

    async def flush(self) -> None:
        """The client's audio ended: an utterance in progress ends now."""
        for ev in self.segmenter.flush():
            if isinstance(ev, SpeechEnd):
                self._speech_ended(ev)

    async def cancel(self) -> None:
        """The client asked to stop the answer (a barge-in by button)."""
        await self._barge_in(time.perf_counter())

    async def idle(self) -> None:
        """Wait until every utterance so far has been answered (tests, benchmarks, a clean close)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._hearing is not None:
            await self._abandon(self._hearing)

    # -- the state machine -----------------------------------------------------------------------------
    async def _speech_started(self, ev: SpeechStart) -> None:
        detected = time.perf_counter()
        self._n += 1
        self.emit(SpeechStartedData(utterance=self._n, at_ms=ev.at_ms))
        await self._barge_in(detected)
        try:
            # A used-up hard budget stops the utterance before any audio goes upstream.
            self.service.admission.budgets.enforce(self.caller.principal)
            target = self.service.transcriber(self.transcriber)
            await self.service.check_model(self.caller, target.entry.id, "")
        except Exception as exc:
            self.report_error(exc, self._n)
            return
        wo_id, meter = await self.service.open_order(self.caller, "transcription", target.entry.id)
        n = self._n
        ctx = self.service.metered_context(meter)
        live = ctx.run(
            open_live,
            target,
            lambda text: self.emit(PartialTranscriptData(utterance=n, text=text)),
            language=self.language,
            partial_interval_s=self.service.settings.voice_partial_interval_ms / 1000,
        )
        self._hearing = _Utterance(n, wo_id, live, target, meter)
        live.feed(ev.audio)

    def _speech_ended(self, ev: SpeechEnd) -> None:
        heard, self._hearing = self._hearing, None
        if heard is None:
            return
        self.emit(SpeechStoppedData(utterance=heard.n, at_ms=ev.at_ms, reason=ev.reason))
        ctx = self.service.metered_context(heard.meter)
        answer = self._answer = _Answer(heard.n)
        task = answer.task = asyncio.get_running_loop().create_task(self._respond(heard, answer), context=ctx)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _barge_in(self, detected: float) -> None:
        answer, self._answer = self._answer, None
        if answer is None or answer.task is None or answer.task.done():
            return
        answer.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await answer.task
        delivered = "".join(answer.delivered)
        self.emit(
            BargeInData(
                utterance=answer.n,
                delivered=delivered,
                cancel_ms=round((time.perf_counter() - detected) * 1000, 2),
            )
        )

    async def _respond(self, heard: _Utterance, answer: _Answer) -> None:
        try:
            transcript = await heard.live.finish()
        except BaseException as exc:
            heard.closed = True
            self.service.close_order(heard.wo_id, heard.target, exc)
            if isinstance(exc, asyncio.CancelledError):
                await heard.live.aclose()
                raise
            self.report_error(exc, heard.n)
            return
        heard.closed = True
        self.service.close_order(heard.wo_id, heard.target, None)
        text = transcript.text.strip()
        self.emit(
            TranscriptData(
                utterance=heard.n, text=text, seconds=transcript.duration or 0.0, work_order_id=heard.wo_id
            )
        )
        if not text:
            return  # noise, not words: no turn
        self.history.append(ChatMessage(role="user", content=text))
        await self._turn(answer)

    async def _turn(self, answer: _Answer) -> None:
        request = TurnRequest(
            chat=ChatRequest(model=self.model, messages=list(self.history), stream=True),
            session_id=self.session_id,
            client_history=True,
        )
        speaker = _Speaker(self, answer.n) if self.speech_model else None
        final: FinalData | InterruptData | None = None
        usage: Usage | None = None
        try:
            answer.turn = await self.service.chat.turn(self.caller, request)
            self.turns += 1
            async for event in answer.turn:
                d = event.data
                piece = _text_of(d)
                if piece:
                    answer.delivered.append(piece)
                    self.emit(VoiceTokenData(utterance=answer.n, text=piece))
                    if speaker:
                        speaker.feed(piece)
                if isinstance(d, ChunkData) and d.chunk.usage is not None:
                    usage = d.chunk.usage
                elif isinstance(d, FinalData | InterruptData):
                    final = d
                elif isinstance(d, ErrorData):
                    self.emit(
                        VoiceErrorData(message=d.message, code=d.code, status=d.status, utterance=answer.n)
                    )
                    return
            # An explicit model's stream ends with its last chunk; a routed run with its final event.
            await self._final(answer, final or _final_of(usage), speaker)
        except asyncio.CancelledError:
            # Barge-in: the assistant said only what was delivered.
            if answer.delivered:
                self.history.append(ChatMessage(role="assistant", content="".join(answer.delivered)))
            raise
        except Exception as exc:
            self.report_error(exc, answer.n)
        finally:
            if speaker is not None:
                await speaker.close()
            if answer.turn is not None:
                await answer.turn.cancel()  # a routed run stops too (a no-op once it has finished)

    async def _final(self, answer: _Answer, d: FinalData | InterruptData, speaker: _Speaker | None) -> None:
        text = d.answer if isinstance(d, FinalData) else d.question
        if not answer.delivered and text:  # a routed answer delivered whole (judged or checked first)
            answer.delivered.append(text)
            self.emit(VoiceTokenData(utterance=answer.n, text=text))
            if speaker:
                speaker.feed(text)
        said = "".join(answer.delivered)
        self.history.append(ChatMessage(role="assistant", content=said))
        if speaker:
            await speaker.finish()
        turn = answer.turn
        final = d if isinstance(d, FinalData) else FinalData()
        self.emit(
            VoiceFinalData(
                utterance=answer.n,
                answer=said,
                model=final.model or (turn.model if turn else None),
                work_order_id=turn.work_order_id if turn else "",
                session_id=turn.session_id if turn else None,
                tokens=final.tokens.model_dump(),
                cost_usd=final.cost_usd,
            )
        )

    async def _abandon(self, heard: _Utterance) -> None:
        if not heard.closed:
            heard.closed = True
            await heard.live.aclose()
            self.service.close_order(heard.wo_id, heard.target, asyncio.CancelledError())

    def report_error(self, exc: BaseException, utterance: int | None) -> None:
        mapped = as_service_error(exc)
        if mapped is None and isinstance(exc, AudioError):
            mapped = invalid(str(exc), code="invalid_audio")
        if mapped is None:
            self.emit(
                VoiceErrorData(
                    message="internal error", code="internal_error", status=500, utterance=utterance
                )
            )
            return
        self.emit(
            VoiceErrorData(
                message=mapped.message, code=mapped.code, status=mapped.status, utterance=utterance
            )
        )


def _final_of(usage: Usage | None) -> FinalData:
    u = usage or Usage()
    return FinalData(
        tokens=TokenTotals(prompt=u.prompt_tokens, completion=u.completion_tokens, total=u.total_tokens)
    )


def _text_of(d: object) -> str:
    """The answer's text in an event: an explicit model's chunk, or a routed run's deliverable token."""
    if isinstance(d, ChunkData):
        return d.chunk.text
    if isinstance(d, TokenData) and d.deliverable:
        return d.text
    return ""


class _Speaker:
    """Speaks an answer sentence by sentence as its text streams (one speech call at a time, in order),
    so the first words are heard before the answer is complete. Metered under one work order."""

    def __init__(self, session: VoiceSession, utterance: int) -> None:
        self.session = session
        self.utterance = utterance
        self._pending = ""
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    def feed(self, text: str) -> None:
        self._pending += text
        *done, self._pending = _SENTENCE.split(self._pending)
        for sentence in done:
            if sentence.strip():
                self._queue.put_nowait(sentence.strip())

    async def finish(self) -> None:
        if self._pending.strip():
            self._queue.put_nowait(self._pending.strip())
        self._pending = ""
        self._queue.put_nowait(None)
        await self._task

    async def close(self) -> None:
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        s = self.session
        service, model = s.service, s.speech_model
        assert model is not None
        try:
            target = service.synthesizer(model)
        except Exception as exc:
            s.report_error(exc, self.utterance)
            return
        while (sentence := await self._queue.get()) is not None:
            request = SpeechRequest(
                input=sentence, voice=service.settings.voice_speech_voice, response_format="wav"
            )
            try:
                speech = await service.metered(
                    s.caller, "speech", model, target, partial(target.speak, request)
                )
            except Exception as exc:
                s.report_error(exc, self.utterance)
                return
            s.emit(
                AudioData(
                    utterance=self.utterance,
                    format="wav",
                    text=sentence,
                    audio_b64=base64.b64encode(speech.audio).decode("ascii"),
                )
            )
