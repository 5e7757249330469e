"""The OpenAI audio API: POST /v1/audio/transcriptions (multipart) and POST /v1/audio/speech (JSON).

The routes parse the OpenAI protocol and render the result; admission, the guard's model allow-list,
metering and work orders are the VoiceService's. Uploads are checked by their bytes, not their names:
anything that is not audio is a 400 `invalid_audio` before a model sees it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import PlainTextResponse, Response

from nexus.gateway.body import body_schema, parse_body
from nexus.gateway.deps import caller_of, services_of
from nexus.gateway.errors import APIError
from nexus.jsontypes import JsonFloat
from nexus.providers.audio import SpeechFormat, SpeechRequest, Transcription, TranscriptionRequest
from nexus.voice.pcm import CONTENT_TYPES, EXTENSIONS, sniff, wav_seconds

router = APIRouter(tags=["audio"])
DOOR = "audio"


def transcription_body(t: Transcription, fmt: str) -> Response:
    if fmt == "text":
        return PlainTextResponse(t.text)
    if fmt == "verbose_json":
        body = t.model_dump(exclude={"usage"}, exclude_none=True)
        body = {"task": "transcribe", "language": "english", "duration": 0.0, "segments": [], **body}
    else:
        u = t.usage
        usage = {"type": "tokens", "input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens}
        body = {"text": t.text, "usage": {**usage, "total_tokens": u.total_tokens}}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post("/v1/audio/transcriptions", summary="Transcribe audio into text")
async def transcriptions(
    request: Request,
    file: Annotated[UploadFile, File(description=f"the audio: {', '.join(EXTENSIONS)}")],
    model: Annotated[str, Form(min_length=1, description="a transcription model, or nexus-asr (offline)")],
    language: Annotated[str | None, Form(max_length=16)] = None,
    prompt: Annotated[str | None, Form(max_length=4096)] = None,
    response_format: Annotated[Literal["json", "text", "verbose_json"], Form()] = "json",
    temperature: Annotated[float | None, Form(ge=0, le=1)] = None,
) -> Response:
    data = await file.read()
    if not data:
        raise APIError(400, "The audio file is empty.", code="invalid_audio", param="file")
    fmt = sniff(data)
    if fmt is None:
        raise APIError(
            400,
            f"The file is not audio we can read; send one of: {', '.join(EXTENSIONS)}.",
            code="invalid_audio",
            param="file",
        )
    req = TranscriptionRequest(
        audio=data,
        filename=file.filename or f"audio.{fmt}",
        content_type=CONTENT_TYPES[fmt],
        language=language,
        prompt=prompt,
        response_format=response_format,
        temperature=temperature,
        seconds=wav_seconds(data) if fmt == "wav" else None,
    )
    out = await services_of(request).voice.transcribe(caller_of(request, DOOR), model, req)
    return transcription_body(out, response_format)


class SpeechBody(BaseModel):
    model: str = Field(min_length=1)
    input: str = Field(min_length=1, max_length=4096)
    voice: str = Field(default="alloy", min_length=1, max_length=64)
    response_format: SpeechFormat = "mp3"
    speed: JsonFloat | None = Field(default=None, ge=0.25, le=4.0)
    instructions: str | None = Field(default=None, max_length=4096)
    stream_format: Literal["audio"] | None = Field(default=None, description="only 'audio' (no SSE)")


@router.post("/v1/audio/speech", openapi_extra=body_schema(SpeechBody), summary="Generate audio from text")
async def speech(request: Request) -> Response:
    body = await parse_body(request, SpeechBody)
    req = SpeechRequest.model_validate(body.model_dump(exclude={"model", "stream_format"}))
    out = await services_of(request).voice.speak(caller_of(request, DOOR), body.model, req)
    return Response(out.audio, media_type=out.content_type)
