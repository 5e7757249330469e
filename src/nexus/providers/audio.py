"""Audio on the provider seam: transcription (speech → text) and speech (text → audio).

A catalogue entry with the `audio_in` capability serves `/v1/audio/transcriptions`, one with
`audio_out` serves `/v1/audio/speech`; an entry with only those capabilities is never given a chat
turn. OpenAI-compatible upstreams (OpenAI, Groq, a local faster-whisper server…) are spoken to here;
the offline transcriber (`nexus-asr`, pocketsphinx) is injected by the runtime from `nexus.voice`.

Every call is metered through the hub's Meter like a chat call, so the Ledger stores it, adds it to
its work order and charges the budgets. Audio has no text tokens, so a call counts:
- transcription: prompt tokens = the upstream's reported input tokens, else the audio's length at
  AUDIO_TOKENS_PER_S (OpenAI's rate for audio input, 1 token per 100 ms); completion tokens = the
  reported output tokens, else the transcript's estimate.
- speech: prompt tokens = the text's estimate; completion tokens = 0 (speech APIs price the input).
Cost is then the catalogue's prices on those tokens, computed once, in the metering wrapper: price a
per-minute transcriber at (price per minute / 600) per token, e.g. whisper-1's $0.006/min → $10/Mtok.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar, cast, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus.config.catalogue import ModelEntry
from nexus.providers import upstream
from nexus.providers.base import CostMixin, Provider, ProviderContext
from nexus.providers.errors import ModelUnavailable, ProviderError, UpstreamTimeout
from nexus.providers.hub import ModelHub, UnknownModel
from nexus.providers.metering import Meter, MeteredProvider
from nexus.providers.tokens import estimate_tokens
from nexus.providers.types import Usage
from nexus.providers.wrappers import RetryPolicy

AUDIO_TOKENS_PER_S = 10
LOCAL_ASR = "nexus-asr"
TranscriptFormat = Literal["json", "text", "verbose_json"]
SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
SPEECH_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/L16",
}
# Adapters that speak OpenAI's audio endpoints.
OPENAI_AUDIO = {"openai", "ollama"}


class TranscriptionRequest(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    audio: bytes
    filename: str = "audio.wav"
    content_type: str = "audio/wav"
    language: str | None = None
    prompt: str | None = None
    response_format: TranscriptFormat = "json"
    temperature: float | None = None
    seconds: float | None = None  # the audio's length, when known (WAV)


class Segment(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int = 0
    start: float = 0.0
    end: float = 0.0
    text: str = ""


class Transcription(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str = ""
    language: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None
    usage: Usage = Field(default_factory=Usage)


class SpeechRequest(BaseModel):
    input: str = Field(min_length=1, max_length=4096)
    voice: str = "alloy"
    response_format: SpeechFormat = "mp3"
    speed: float | None = Field(default=None, ge=0.25, le=4.0)
    instructions: str | None = None


class Speech(BaseModel):
    audio: bytes
    content_type: str
    usage: Usage = Field(default_factory=Usage)


class AudioModelError(LookupError):
    """The model exists but cannot do this (a chat model asked to transcribe): a 400 at the door."""

    def __init__(self, model: str, capability: str, able: list[str]) -> None:
        super().__init__(model)
        self.model, self.capability, self.able = model, capability, able


@runtime_checkable
class Transcriber(Protocol):
    entry: ModelEntry

    async def transcribe(self, request: TranscriptionRequest) -> Transcription: ...

    def estimate_cost(self, usage: Usage) -> float: ...


@runtime_checkable
class Synthesizer(Protocol):
    entry: ModelEntry

    async def speak(self, request: SpeechRequest) -> Speech: ...

    def estimate_cost(self, usage: Usage) -> float: ...


LocalFactory = Callable[[ModelEntry], Transcriber]


def audio_usage(seconds: float | None, text: str, reported: Any = None) -> Usage:
    """A transcription's tokens: what the upstream reported, else estimates (see the module doc)."""
    if isinstance(reported, dict):
        if reported.get("type") == "tokens" or "input_tokens" in reported:
            return Usage.of(int(reported.get("input_tokens") or 0), int(reported.get("output_tokens") or 0))
        if reported.get("type") == "duration" and reported.get("seconds") is not None:
            seconds = float(reported["seconds"])
    prompt = round((seconds or 0.0) * AUDIO_TOKENS_PER_S)
    return Usage.of(prompt, estimate_tokens(text))


# -- the OpenAI-compatible adapter -----------------------------------------------------------------------
class OpenAIAudio(CostMixin):
    """`POST {base_url}/audio/transcriptions` (multipart) and `POST {base_url}/audio/speech` (JSON)."""

    def __init__(self, entry: ModelEntry, ctx: ProviderContext) -> None:
        self.entry = entry
        self._http: httpx.AsyncClient = ctx.http
        self._secret = ctx.secret
        base = entry.base_url or "https://api.openai.com/v1"
        self._transcriptions = base + "/audio/transcriptions"
        self._speech = base + "/audio/speech"

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"accept": "application/json", **self.entry.headers}
        if content_type:
            headers["content-type"] = content_type
        key = self._secret(self.entry.api_key_env) if self.entry.api_key_env else None
        if key:
            headers["authorization"] = "Bearer " + key
        return headers

    async def transcribe(self, request: TranscriptionRequest) -> Transcription:
        fmt = "verbose_json" if request.response_format == "verbose_json" else "json"
        form: dict[str, str] = {"model": self.entry.model, "response_format": fmt}
        for name in ("language", "prompt", "temperature"):
            value = getattr(request, name)
            if value is not None:
                form[name] = str(value)
        files = {"file": (request.filename, request.audio, request.content_type)}
        with upstream.transport_errors(self.entry):
            resp = await self._http.post(
                self._transcriptions, data=form, files=files, headers=self._headers(None)
            )
        if resp.status_code >= 400:
            raise upstream.status_error(resp.status_code, resp.content, resp.headers, self.entry)
        data = upstream.decode_json(resp.content, self.entry)
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise upstream.protocol_error(f"not a transcription: {resp.content[:120]!r}", self.entry)
        try:
            out = Transcription.model_validate({k: v for k, v in data.items() if k != "usage"})
        except ValidationError:
            raise upstream.protocol_error(
                f"not a transcription: {resp.content[:120]!r}", self.entry
            ) from None
        seconds = out.duration if out.duration is not None else request.seconds
        out.usage = audio_usage(seconds, out.text, data.get("usage"))
        return out

    async def speak(self, request: SpeechRequest) -> Speech:
        body = {"model": self.entry.model, **request.model_dump(exclude_none=True)}
        headers = self._headers("application/json")
        headers["accept"] = "*/*"
        raw = await upstream.post_json(self._http, self._speech, body, headers, self.entry)
        if raw[:1] == b"{" and b'"error"' in raw[:64]:  # an in-band error object with a 200
            raise upstream.protocol_error(upstream.error_message(raw), self.entry)
        return Speech(
            audio=raw,
            content_type=SPEECH_TYPES[request.response_format],
            usage=Usage.of(estimate_tokens(request.input), 0),
        )


# -- behaviour around an adapter: retries and metering ----------------------------------------------------
T = TypeVar("T")
A = TypeVar("A", Transcription, Speech)


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, entry: ModelEntry) -> T:
    """A call time-boxed per attempt and retried on retryable errors with the hub's backoff policy."""
    attempt = 0
    while True:
        try:
            return await asyncio.wait_for(call(), policy.attempt_timeout_s)
        except TimeoutError:
            err: ProviderError = UpstreamTimeout(
                f"no answer within {policy.attempt_timeout_s:g}s", provider=entry.provider, model=entry.id
            )
        except ProviderError as exc:
            err = exc
        if not err.retryable or attempt >= policy.max_retries:
            raise err
        await asyncio.sleep(policy.delay(attempt, err))
        attempt += 1


class MeteredAudio:
    """One audio model with retries, every call a CallRecord on the hub's Meter (tenant, work order and
    key come from `call_context`, as for chat). `inner` is a Transcriber, a Synthesizer, or both."""

    def __init__(self, inner: Transcriber | Synthesizer, meter: Meter, retry: RetryPolicy) -> None:
        self.inner = inner
        self.entry: ModelEntry = inner.entry
        self.retry = retry
        # MeteredProvider builds the CallRecord: one place computes cost and copies the call context.
        self._recorder = MeteredProvider(cast(Provider, inner), meter)

    def record(self, usage: Usage | None, started: float, error: BaseException | None = None) -> None:
        self._recorder.record(
            usage or Usage(), False, started, "ok" if error is None else "error", error, False
        )

    async def transcribe(self, request: TranscriptionRequest) -> Transcription:
        inner = cast(Transcriber, self.inner)
        return await self._call(lambda: inner.transcribe(request))

    async def speak(self, request: SpeechRequest) -> Speech:
        inner = cast(Synthesizer, self.inner)
        return await self._call(lambda: inner.speak(request))

    async def _call(self, call: Callable[[], Awaitable[A]]) -> A:
        started = time.perf_counter()
        try:
            out = await with_retries(call, self.retry, self.entry)
        except BaseException as exc:
            self.record(None, started, exc)
            raise
        self.record(out.usage, started)
        return out


# -- resolving a requested model -----------------------------------------------------------------------
def local_entry() -> ModelEntry:
    return ModelEntry(
        id=LOCAL_ASR,
        provider="pocketsphinx",
        model="en-us",
        input_price_per_mtok=0,
        output_price_per_mtok=0,
        context_window=1,
        capabilities=("audio_in",),
        description="Offline transcriber (pocketsphinx, English); see docs/voice.md for its accuracy.",
    )


class AudioHub:
    """The hub's audio side: a requested model name → a metered transcriber or synthesizer.

    A name is a catalogue id, or the upstream model name of exactly one audio entry (so the SDK's
    habitual `whisper-1` finds the entry serving it), or `nexus-asr`. In demo mode (no keys) the
    catalogue's transcription entries are served by the offline transcriber: real transcripts, simulated
    only in that they cost nothing.
    """

    def __init__(self, hub: ModelHub, local: LocalFactory | None = None) -> None:
        self.hub = hub
        self.local = local
        self._bound: dict[str, MeteredAudio] = {}
        hub.on_reload(lambda _: self._bound.clear())

    def names(self, capability: str) -> list[str]:
        ids = [m.id for m in self.hub.catalogue.models if capability in m.capabilities]
        return [LOCAL_ASR, *ids] if capability == "audio_in" and self.local is not None else ids

    def _entry(self, name: str, capability: str) -> ModelEntry:
        if name == LOCAL_ASR and capability == "audio_in" and self.local is not None:
            return local_entry()
        cat = self.hub.catalogue
        entry = cat.get(name)
        if entry is None:
            by_upstream = [m for m in cat.models if m.model == name and capability in m.capabilities]
            if len(by_upstream) != 1:
                raise UnknownModel(name, self.names(capability))
            entry = by_upstream[0]
        if capability not in entry.capabilities:
            raise AudioModelError(name, capability, self.names(capability))
        return entry

    def _bind(self, entry: ModelEntry) -> MeteredAudio:
        bound = self._bound.get(entry.id)
        if bound is not None:
            return bound
        inner: Transcriber | Synthesizer
        if entry.id == LOCAL_ASR or (entry.provider == "demo" and "audio_in" in entry.capabilities):
            if self.local is None:
                raise ModelUnavailable(
                    "the offline transcriber is not installed (pip install pocketsphinx webrtcvad-wheels)",
                    provider="pocketsphinx",
                    model=entry.id,
                    status=503,
                )
            inner = self.local(entry)
        elif entry.provider in OPENAI_AUDIO:
            inner = OpenAIAudio(entry, self.hub._ctx)
        else:
            raise ModelUnavailable(
                f"provider {entry.provider!r} has no audio adapter (OpenAI-compatible ones do)",
                provider=entry.provider,
                model=entry.id,
                status=503,
            )
        bound = self._bound[entry.id] = MeteredAudio(inner, self.hub.meter, self.hub.retry)
        return bound

    def _available(self, entry: ModelEntry) -> None:
        if entry.id != LOCAL_ASR and not self.hub.is_available(entry.id):
            raise ModelUnavailable(
                f"model {entry.id!r} is unavailable: set {entry.api_key_env or 'its credentials'}",
                provider=entry.provider,
                model=entry.id,
                status=503,
            )

    def transcriber(self, name: str) -> MeteredAudio:
        entry = self._entry(name, "audio_in")
        self._available(entry)
        return self._bind(entry)

    def synthesizer(self, name: str) -> MeteredAudio:
        entry = self._entry(name, "audio_out")
        self._available(entry)
        if entry.provider == "demo":
            raise ModelUnavailable(
                "speech needs a real provider: the demo has no simulated voice",
                provider="demo",
                model=entry.id,
                status=503,
            )
        return self._bind(entry)
