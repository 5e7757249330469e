"""FakeOpenAI: an OpenAI-compatible server for tests and benchmarks: chat completions (JSON and SSE),
models, and audio — `POST /v1/audio/transcriptions` (multipart) and `POST /v1/audio/speech`."""

from __future__ import annotations

import email.parser
import email.policy
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from nexus.testing.script import Reply
from nexus.testing.server import (
    Event,
    Exchange,
    FakeServer,
    RecordedRequest,
    answer_text,
    pieces,
    usage_of,
)

_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_TRANSCRIBE_PATHS = ("/v1/audio/transcriptions", "/audio/transcriptions")
_SPEECH_PATHS = ("/v1/audio/speech", "/audio/speech")
SPEECH_RATE = 24_000  # OpenAI's speech output: 24 kHz mono PCM16 for "wav" and "pcm"


@dataclass(slots=True)
class FormPart:
    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None


def parse_form(req: RecordedRequest) -> dict[str, FormPart]:
    """A multipart/form-data body, by field name (what a transcription request carries)."""
    ctype = req.headers.get("content-type", "")
    if "multipart/form-data" not in ctype:
        return {}
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.body)
    out: dict[str, FormPart] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        out[name] = FormPart(
            name,
            payload if isinstance(payload, bytes) else b"",
            part.get_filename(),
            part.get_content_type() if part.get("content-type") else None,
        )
    return out


def tone_pcm(seconds: float, rate: int = SPEECH_RATE) -> bytes:
    """A quiet 220 Hz tone: audio that is really audio, sized like speech of the given length."""
    import math

    n = int(seconds * rate)
    return b"".join(
        int(3000 * math.sin(2 * math.pi * 220 * i / rate)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )


def wav_of(pcm: bytes, rate: int = SPEECH_RATE) -> bytes:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def _prompt(payload: dict[str, Any]) -> str:
    out = []
    for m in payload.get("messages") or []:
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if isinstance(p, dict))
    return "\n".join(out)


def _last_user(payload: dict[str, Any]) -> str:
    for m in reversed(payload.get("messages") or []):
        if m.get("role") == "user":
            return _prompt({"messages": [m]})
    return ""


class FakeOpenAI(FakeServer):
    """POST /v1/chat/completions (stream or not), GET /v1/models and the audio endpoints; `base_url`
    ends in /v1. With `api_key` set, requests without `Authorization: Bearer <api_key>` get a 401.

    Audio is scripted apart from chat (one fake can serve both): `push_audio(Reply(...))` queues
    replies for the audio endpoints; `Reply(text=...)` is a transcript, `Reply.error(...)` an error,
    `delay` a slow answer, `chunk_delay` a speech body streamed in pieces. With the queue empty a
    transcription answers `transcript` and speech answers a tone as long as the text would take to say.
    A stream the client abandons is in `cancellations` (chat and speech alike).
    """

    def __init__(
        self,
        *,
        models: tuple[str, ...] = ("fake-model",),
        api_key: str | None = None,
        transcript: str = "hello from the fake transcriber",
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.models = models
        self.api_key = api_key
        self.transcript = transcript
        # Hears the audio when set (a test's own recogniser): the transcript of each unscripted request.
        self.hear: Callable[[bytes], str] | None = None
        self._audio: deque[Reply] = deque()
        self._n = 0

    # -- audio -------------------------------------------------------------------------------------
    def push_audio(self, *replies: Reply) -> None:
        self._audio.extend(replies)

    def clear(self) -> None:
        super().clear()
        self._audio.clear()

    @property
    def audio_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path in _TRANSCRIBE_PATHS + _SPEECH_PATHS]

    async def handle(self, ex: Exchange) -> None:
        path = ex.request.path
        if ex.request.method == "POST" and path in _TRANSCRIBE_PATHS + _SPEECH_PATHS:
            reply = self._audio.popleft() if self._audio else Reply()
            if reply.delay:
                import asyncio

                await asyncio.sleep(reply.delay)
            denied = self.auth_error(ex.request)
            if denied is not None:
                ex.send(401, denied)
            elif reply.status >= 400:
                ex.send(reply.status, self.error_body(reply.status, reply.error_message or "scripted error"))
            elif reply.body is not None:
                ex.send(reply.status, reply.raw_body(), reply.headers)
            elif path in _TRANSCRIBE_PATHS:
                self._transcribe(ex, reply)
            else:
                await self._speak(ex, reply)
            return
        await super().handle(ex)

    def _transcribe(self, ex: Exchange, reply: Reply) -> None:
        form = parse_form(ex.request)
        audio, model = form.get("file"), form.get("model")
        if audio is None or not audio.value:
            ex.send(400, self.error_body(400, "Missing required parameter: 'file'."))
            return
        if model is None or not model.value:
            ex.send(400, self.error_body(400, "Missing required parameter: 'model'."))
            return
        if reply.text is not None:
            text = reply.text
        else:
            text = self.hear(audio.value) if self.hear is not None else self.transcript
        fmt = form["response_format"].value.decode() if "response_format" in form else "json"
        seconds = _wav_seconds(audio.value)
        if fmt == "text":
            ex.send(200, text.encode(), {"content-type": "text/plain; charset=utf-8"})
            return
        body: dict[str, Any] = {"text": text, "usage": {"type": "duration", "seconds": round(seconds)}}
        if fmt == "verbose_json":
            body.update(
                task="transcribe",
                language="english",
                duration=seconds,
                segments=[{"id": 0, "start": 0.0, "end": seconds, "text": text}],
            )
        ex.send(200, orjson.dumps(body))

    async def _speak(self, ex: Exchange, reply: Reply) -> None:
        payload = ex.request.json or {}
        text = str(payload.get("input") or "")
        if not text or not payload.get("model"):
            ex.send(400, self.error_body(400, "Missing required parameter: 'input' or 'model'."))
            return
        pcm = tone_pcm(0.06 * max(1, len(text.split())))
        fmt = payload.get("response_format") or "mp3"
        audio = wav_of(pcm) if fmt == "wav" else pcm if fmt == "pcm" else b"ID3\x04\x00\x00" + pcm[:2048]
        ctype = {"wav": "audio/wav", "pcm": "audio/pcm"}.get(fmt, "audio/mpeg")
        if reply.chunk_delay:
            step = max(1, len(audio) // 8)
            chunks = [audio[i : i + step] for i in range(0, len(audio), step)]
            await ex.send_chunks(chunks, reply, {"content-type": ctype})
            return
        ex.send(200, audio, {"content-type": ctype})

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        if req.method == "GET" and req.path in ("/v1/models", "/models"):
            return "models"
        if req.method == "POST" and req.path in _CHAT_PATHS:
            return "stream" if isinstance(payload, dict) and payload.get("stream") else "complete"
        return None

    def auth_error(self, req: RecordedRequest) -> bytes | None:
        if self.api_key and req.headers.get("authorization") != f"Bearer {self.api_key}":
            return self.error_body(401, "Incorrect API key provided")
        return None

    def models_body(self) -> Any:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models],
        }

    def error_body(self, status: int, message: str) -> bytes:
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key", 404: "not_found"}.get(
            status, "server_error"
        )
        return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}})

    def _id(self) -> str:
        self._n += 1
        return f"chatcmpl-fake{self._n:06d}"

    @staticmethod
    def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
        return [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.name, "arguments": orjson.dumps(tc.arguments).decode()},
            }
            for tc in reply.tool_calls or []
        ]

    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any:
        prompt = _prompt(payload)
        text = "" if reply.tool_calls and reply.text is None else answer_text(_last_user(payload), reply)
        p, c = usage_of(prompt, text, reply)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if reply.tool_calls:
            message["tool_calls"] = self._tool_calls(reply)
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": self._id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model", "fake-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
            "system_fingerprint": "fp_fake",
        }

    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]:
        prompt = _prompt(payload)
        text = "" if reply.tool_calls and reply.text is None else answer_text(_last_user(payload), reply)
        p, c = usage_of(prompt, text, reply)
        head = {
            "id": self._id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": payload.get("model", "fake-model"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> Event:
            return None, orjson.dumps(
                {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            )

        events = [chunk({"role": "assistant", "content": ""})]
        if text:
            events += [chunk({"content": piece}) for piece in pieces(text)]
        for i, tc in enumerate(self._tool_calls(reply)):
            events.append(chunk({"tool_calls": [{"index": i, **tc}]}))
        events.append(chunk({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")))
        opts = payload.get("stream_options") or {}
        if opts.get("include_usage"):
            usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
            events.append((None, orjson.dumps({**head, "choices": [], "usage": usage})))
        events.append((None, b"[DONE]"))
        return events


def _wav_seconds(data: bytes) -> float:
    import io
    import wave

    try:
        with wave.open(io.BytesIO(data)) as w:
            return w.getnframes() / float(w.getframerate() or 1)
    except (wave.Error, EOFError):
        return 0.0
