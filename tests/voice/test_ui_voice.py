"""The UI's voice page helpers against the real gateway: a browser-style recording (espeak-ng's
22 kHz WAV) goes over /ws/voice; the page's fold of the events shows the transcript and the answer."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from tests.voice.audio import espeak, silence
from tests.voice.conftest import VoiceEnv

from nexus.testing import Reply
from nexus.ui.client import API_URL_ENV
from nexus.ui.views import voice as page
from nexus.voice.pcm import wav_bytes


def recording(text: str) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.wav"
        subprocess.run([espeak(), "-v", "en-us", "-w", str(out), text], check=True)
        return out.read_bytes()


def test_a_recording_is_transcribed_and_answered(voice_env: VoiceEnv) -> None:
    key, _, _ = voice_env.key()
    voice_env.fakes["general"].push(Reply(text="Sunny and mild."))
    shown: list[tuple[str, str]] = []
    state = page.render(
        page.converse(voice_env.gw.base_url, key, recording("what is the weather like")),
        lambda slot, text: shown.append((slot, text)),
    )
    assert state["error"] is None, state
    # What the offline decoder makes of it varies (docs/voice.md); the turn is the transcript's.
    assert state["transcript"], state
    sent = voice_env.fakes["general"].requests[-1].json["messages"][-1]
    assert sent == {"role": "user", "content": state["transcript"]}
    assert state["answer"] == "Sunny and mild." and state["final"]["work_order_id"]
    assert [s for s, _ in shown if s == "you"] and shown[-1] == ("answer", "Sunny and mild.")


def test_a_silent_recording_gets_no_turn(voice_env: VoiceEnv) -> None:
    key, _, _ = voice_env.key()
    state = page.render(page.converse(voice_env.gw.base_url, key, wav_bytes(silence(1000))), lambda *_: None)
    assert state["transcript"] is None and state["answer"] == "" and state["error"] is None
    assert not voice_env.fakes["general"].requests


def test_a_refused_key_is_shown(voice_env: VoiceEnv) -> None:
    state = page.render(page.converse(voice_env.gw.base_url, "sk-wrong", recording("hello")), lambda *_: None)
    assert state["error"] and "key" in state["error"].lower()


def test_the_page_renders(voice_env: VoiceEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_URL_ENV, voice_env.gw.base_url)
    at = AppTest.from_file(str(Path(page.__file__)), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.endswith("Voice")
