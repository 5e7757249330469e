"""POST /v1/audio/transcriptions and /v1/audio/speech through the real gateway, driven by the official
openai SDK where it can be: routed to catalogue audio entries (a FakeOpenAI) or the offline
transcriber; admitted, guarded, metered and isolated like chat."""

from __future__ import annotations

import io

import httpx
import openai
import pytest
from tests.voice.audio import say_wav
from tests.voice.conftest import VoiceEnv

from nexus.service.keys import BudgetSpec
from nexus.testing import Reply
from nexus.testing.fake_openai import parse_form


def sdk(env: VoiceEnv, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=env.gw.base_url + "/v1", api_key=key, max_retries=0)


def post(
    env: VoiceEnv, key: str | None, path: str, headers: dict[str, str] | None = None, **kw: object
) -> httpx.Response:
    h = {**(headers or {}), **({"Authorization": f"Bearer {key}"} if key else {})}
    return httpx.post(env.gw.base_url + path, headers=h, timeout=30, **kw)  # type: ignore[arg-type]


def test_the_openai_sdk_transcribes_through_nexus(voice_env: VoiceEnv) -> None:
    key, _, tenant = voice_env.key()
    voice_env.audio.push_audio(Reply(text="Hello from the fake upstream."))
    wav = say_wav("hello there")
    out = sdk(voice_env, key).audio.transcriptions.create(
        model="whisper-1", file=("hello.wav", io.BytesIO(wav), "audio/wav"), language="en"
    )
    assert out.text == "Hello from the fake upstream."
    sent = voice_env.audio.audio_requests[-1]
    form = parse_form(sent)
    # The catalogue entry serving the upstream name `whisper-1`; the audio and fields as sent; the
    # upstream's credential, never the client's key.
    assert form["model"].value == b"whisper-1" and form["language"].value == b"en"
    assert form["file"].value == wav and form["file"].filename == "hello.wav"
    assert sent.headers["authorization"] != f"Bearer {key}"
    orders = [o for o in voice_env.work_orders(tenant) if o.route == "transcription"]
    assert len(orders) == 1 and orders[0].status == "done" and orders[0].owner_model == "whisper"
    # Metered: the audio's seconds as prompt tokens (10/s), priced from the catalogue ($10/Mtok).
    assert orders[0].tokens_in >= 5 and orders[0].cost_usd == pytest.approx(orders[0].tokens_in * 10 / 1e6)


@pytest.mark.parametrize("fmt", ["json", "text", "verbose_json"])
def test_response_formats(voice_env: VoiceEnv, fmt: str) -> None:
    key, _, _ = voice_env.key()
    voice_env.audio.push_audio(Reply(text="one two three"))
    out = sdk(voice_env, key).audio.transcriptions.create(
        model="whisper",
        file=("a.wav", say_wav("one two three")),
        response_format=fmt,  # type: ignore[call-overload]
    )
    if fmt == "text":
        assert out.strip() == "one two three"  # type: ignore[union-attr]
    else:
        assert out.text == "one two three"
    if fmt == "verbose_json":
        assert out.duration > 0.5 and out.segments and out.segments[0].text == "one two three"  # type: ignore[union-attr]


def test_the_offline_transcriber_hears_espeak(voice_env: VoiceEnv) -> None:
    key, _, tenant = voice_env.key()
    out = sdk(voice_env, key).audio.transcriptions.create(
        model="nexus-asr", file=("q.wav", say_wav("what is the weather like"))
    )
    assert out.text.startswith("what is the weather"), out.text
    assert not voice_env.audio.requests  # offline: no upstream at all
    orders = voice_env.work_orders(tenant)
    assert [(o.route, o.status, o.owner_model) for o in orders] == [("transcription", "done", "nexus-asr")]


@pytest.mark.parametrize(
    "files,data,status,code",
    [
        (
            {"file": ("x.wav", b"this is plain text, not audio", "audio/wav")},
            {"model": "whisper"},
            400,
            "invalid_audio",
        ),
        ({"file": ("x.wav", b"", "audio/wav")}, {"model": "whisper"}, 400, "invalid_audio"),
        (None, {"model": "whisper"}, 400, "invalid_request"),
        ({"file": ("x.wav", b"RIFF0000WAVE", "audio/wav")}, {}, 400, "invalid_request"),
        (
            {"file": ("x.wav", b"RIFF0000WAVE", "audio/wav")},
            {"model": "no-such-model"},
            404,
            "model_not_found",
        ),
        (
            {"file": ("x.wav", b"RIFF0000WAVE", "audio/wav")},
            {"model": "general"},
            400,
            "unsupported_capability",
        ),
        (
            {"file": ("x.wav", b"RIFF0000WAVE", "audio/wav")},
            {"model": "whisper", "response_format": "srt"},
            400,
            "invalid_request",
        ),
        (
            {"file": ("x.mp3", b"ID3\x04\x00\x00" + bytes(64), "audio/mpeg")},
            {"model": "nexus-asr"},
            400,
            "invalid_audio",
        ),
        (
            {"file": ("x.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunk", "audio/wav")},
            {"model": "nexus-asr"},
            400,
            "invalid_audio",
        ),
    ],
    ids=[
        "not-audio",
        "empty",
        "no-file",
        "no-model",
        "unknown-model",
        "chat-model",
        "srt",
        "asr-mp3",
        "broken-wav",
    ],
)
def test_bad_input_is_a_clear_4xx_in_the_openai_shape(
    voice_env: VoiceEnv, files: object, data: dict[str, str], status: int, code: str
) -> None:
    key, _, _ = voice_env.key()
    r = post(voice_env, key, "/v1/audio/transcriptions", files=files, data=data)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["type"]
    assert not voice_env.audio.requests


def test_a_body_too_big_is_413(voice_env: VoiceEnv) -> None:
    key, _, _ = voice_env.key()
    big = b"RIFF" + bytes(5 * 1024 * 1024)
    r = post(
        voice_env, key, "/v1/audio/transcriptions", files={"file": ("x.wav", big)}, data={"model": "whisper"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_an_upstream_failure_is_a_502_and_a_failed_work_order(voice_env: VoiceEnv) -> None:
    key, _, tenant = voice_env.key()
    voice_env.audio.push_audio(Reply.error(400, "Invalid file format."))
    r = post(
        voice_env,
        key,
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", say_wav("hi"))},
        data={"model": "whisper"},
    )
    assert r.status_code == 502 and "Invalid file format" in r.json()["error"]["message"]
    [order] = voice_env.work_orders(tenant)
    assert order.status == "failed" and "Invalid file format" in (order.error or "")


def test_speech_returns_audio_and_masks_secrets_before_the_upstream(voice_env: VoiceEnv) -> None:
    key, _, tenant = voice_env.key()
    secret = "AKIAQ3EGRPZTJ5KX7N2M"
    out = sdk(voice_env, key).audio.speech.create(
        model="tts", voice="alloy", input=f"Your key is {secret}, read it back.", response_format="wav"
    )
    audio = out.read()
    assert audio[:4] == b"RIFF" and len(audio) > 1000
    sent = voice_env.audio.audio_requests[-1].json
    assert sent["model"] == "tts-1" and secret not in sent["input"] and "read it back" in sent["input"]
    [order] = voice_env.work_orders(tenant)
    assert (order.route, order.status, order.owner_model) == ("speech", "done", "tts")
    assert order.tokens_in > 0 and order.cost_usd > 0


def test_speech_bad_input(voice_env: VoiceEnv) -> None:
    key, _, _ = voice_env.key()
    for body, status, code in [
        ({"model": "tts", "input": ""}, 400, "invalid_request"),
        ({"model": "tts", "input": "hi", "response_format": "midi"}, 400, "invalid_request"),
        ({"model": "whisper", "input": "hi"}, 400, "unsupported_capability"),
        ({"model": "tts", "input": "x" * 5000}, 400, "invalid_request"),
    ]:
        r = post(voice_env, key, "/v1/audio/speech", json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    r = post(voice_env, key, "/v1/audio/speech", content=b"input=hi", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert not voice_env.audio.requests


@pytest.mark.parametrize("path", ["/v1/audio/transcriptions", "/v1/audio/speech"])
def test_audio_is_admitted_like_chat(voice_env: VoiceEnv, path: str) -> None:
    def call(key: str | None) -> httpx.Response:
        if path.endswith("speech"):
            return post(voice_env, key, path, json={"model": "tts", "input": "hello there"})
        return post(voice_env, key, path, files={"file": ("a.wav", say_wav("hi"))}, data={"model": "whisper"})

    r = call(None)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_api_key")
    limited, _, _ = voice_env.key(rpm=1)
    assert call(limited).status_code == 200
    r = call(limited)
    assert (r.status_code, r.json()["error"]["code"]) == (429, "rate_limit_exceeded")
    broke, key_id, tenant = voice_env.key(budget=BudgetSpec(period="day", metric="tokens", limit=50))
    voice_env.exhaust(tenant, key_id)
    voice_env.audio.clear()
    r = call(broke)
    assert (r.status_code, r.json()["error"]["code"]) == (429, "budget_exceeded")
    assert not voice_env.audio.requests


def test_audio_spend_counts_against_the_budget(voice_env: VoiceEnv) -> None:
    key, _, tenant = voice_env.key(budget=BudgetSpec(period="day", metric="tokens", limit=20))
    wav = say_wav("a long enough sentence to spend more than twenty audio tokens of budget")
    ok = post(
        voice_env, key, "/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"model": "whisper"}
    )
    assert ok.status_code == 200
    r = post(
        voice_env, key, "/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"model": "whisper"}
    )
    assert (r.status_code, r.json()["error"]["code"]) == (429, "budget_exceeded")


def test_audio_work_orders_are_the_tenants_own(voice_env: VoiceEnv) -> None:
    owner, _, tenant = voice_env.key()
    other, _, _ = voice_env.key()
    post(
        voice_env,
        owner,
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", say_wav("hi"))},
        data={"model": "whisper"},
    )
    [order] = voice_env.work_orders(tenant)
    mine = httpx.get(
        voice_env.gw.base_url + f"/api/work-orders/{order.id}", headers={"Authorization": f"Bearer {owner}"}
    )
    theirs = httpx.get(
        voice_env.gw.base_url + f"/api/work-orders/{order.id}", headers={"Authorization": f"Bearer {other}"}
    )
    assert mine.status_code == 200 and mine.json()["route"] == "transcription"
    assert theirs.status_code == 404


def test_a_tenants_model_allow_list_holds_for_audio(voice_env: VoiceEnv) -> None:
    import uuid

    from nexus.service.keys import create_api_key

    tenant = "t" + uuid.uuid4().hex[:10]
    admin, _ = voice_env.gw.call(create_api_key(voice_env.gw.services.store, tenant=tenant, role="admin"))
    r = httpx.put(
        voice_env.gw.base_url + f"/admin/tenants/{tenant}/guard",
        json={"allowed_models": ["general", "nexus-asr"]},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 200, r.text
    refused = post(
        voice_env,
        admin,
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", say_wav("hi"))},
        data={"model": "whisper"},
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    allowed = post(
        voice_env,
        admin,
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", say_wav("hi"))},
        data={"model": "nexus-asr"},
    )
    assert allowed.status_code == 200
    assert not voice_env.audio.requests


def test_audio_only_entries_are_never_chat_models(voice_env: VoiceEnv) -> None:
    assert "whisper" not in voice_env.gw.services.router.available
    assert "tts" not in voice_env.gw.services.router.available
