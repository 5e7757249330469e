# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""Polling mode (`nexus telegram --mode polling`): the bot long-polls the fake Bot API in this process,
on the same runtime Services a gateway builds; a voice note goes through a scripted Transcriber."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from tests.interfaces.telegram_env import ADMIN, MEMBER, telegram_settings, write_vision_catalogue
from tests.voice.conftest import with_audio

from nexus.config.settings import Settings
from nexus.embeddings import HashingEmbedder
from nexus.interfaces.telegram import AccessList, AllowListError, TelegramBot, parse_allow_list
from nexus.interfaces.telegram.voice import TranscriptionError
from nexus.routing.classifier import Classifier
from nexus.runtime import build
from nexus.service.identity import Caller
from nexus.store import TenantScope
from nexus.testing import FakeOpenAI, FakeTelegram, Reply
from nexus.testing.fake_telegram import DEFAULT_TOKEN


class ScriptedTranscriber:
    """The voice layer's seam, scripted: audio bytes → the text a test chose (and who asked)."""

    def __init__(self, texts: dict[bytes, str]) -> None:
        self.texts = texts
        self.callers: list[Caller] = []

    async def transcribe(self, caller: Caller, audio: bytes, *, mime_type: str) -> str:
        self.callers.append(caller)
        if audio not in self.texts:
            raise TranscriptionError("the audio is not speech")
        return self.texts[audio]


def _prepare(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_TEST_KEY", "sk-test-pipeline-key-0123456789")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", DEFAULT_TOKEN)
    for f in fakes.values():
        f.clear()
    if classifier_cache.exists():
        shutil.copytree(classifier_cache, tmp_path / "router", dirs_exist_ok=True)


async def test_polling_mode_answers_text_and_transcribed_voice(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prepare(fakes, classifier_cache, tmp_path, monkeypatch)
    async with FakeTelegram() as tg:
        assert isinstance(tg, FakeTelegram)
        settings = telegram_settings(tmp_path, write_vision_catalogue(tmp_path / "cat.yaml", fakes), tg)
        embedder = HashingEmbedder()
        voice = ScriptedTranscriber({b"OggS-weather": "What is the weather like on Mars?"})
        async with build(
            settings, embedder=embedder, classifier=Classifier(embedder=embedder, settings=settings)
        ) as services:
            bot = TelegramBot(services, transcriber=voice, polling=True)
            stop = asyncio.Event()
            task = asyncio.create_task(bot.run_polling(stop))
            try:
                await asyncio.to_thread(tg.user_says, MEMBER, "/start")
                got = await asyncio.to_thread(tg.wait_messages, MEMBER, 1)
                assert "acme" in got[0].plain

                await asyncio.to_thread(tg.user_says, MEMBER, "/model general")
                await asyncio.to_thread(tg.wait_messages, MEMBER, 1, after=1)
                fakes["general"].push(Reply(text="Cold and dusty: about -60 °C."))
                await asyncio.to_thread(tg.user_sends_voice, MEMBER, b"OggS-weather")
                got = await asyncio.to_thread(tg.wait_messages, MEMBER, 2, after=2)
                assert got[2].plain == "🎙️ “What is the weather like on Mars?”"
                assert got[3].plain == "Cold and dusty: about -60 °C."
                assert "weather like on Mars" in fakes["general"].last_request.body.decode()
                assert voice.callers[0].door == "telegram" and voice.callers[0].tenant == "acme"

                await asyncio.to_thread(tg.user_sends_voice, ADMIN, b"static")
                got = await asyncio.to_thread(tg.wait_messages, ADMIN, 1)
                assert "could not understand" in got[0].plain
                assert "getUpdates" in tg.calls and tg.webhook is None
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)


def test_the_allow_list_is_parsed_strictly() -> None:
    users = parse_allow_list(" 11=acme:admin, 12=beta , -100=ops:global_admin ", rpm=5)
    assert {u: (p.tenant_id, p.role, p.key_id, p.rpm) for u, p in users.items()} == {
        11: ("acme", "admin", "tg:11", 5),
        12: ("beta", "member", "tg:12", 5),
        -100: ("ops", "global_admin", "tg:-100", 5),
    }
    for bad in ("acme:admin", "x=acme:admin", "11=acme:boss", "11=ac me:admin", "11=:admin"):
        with pytest.raises(AllowListError):
            parse_allow_list(bad)
    assert AccessList(users).principal(99) is None
    with pytest.raises(ValueError, match="under /telegram/"):
        Settings(telegram_webhook_path="/hook")  # the gateway serves webhooks only under /telegram/


async def test_a_voice_note_is_transcribed_by_the_catalogues_audio_model_through_the_voice_service(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No transcriber given: the bot uses the catalogue's `audio_in` model through services.voice, so the
    note is admitted, metered and charged to the user's tenant like /v1/audio/transcriptions."""
    _prepare(fakes, classifier_cache, tmp_path, monkeypatch)
    with FakeOpenAI(transcript="What is the capital of France?") as ears:
        cat_path = with_audio(write_vision_catalogue(tmp_path / "cat.yaml", fakes), ears)
        async with FakeTelegram() as tg:
            settings = telegram_settings(tmp_path, cat_path, tg)
            embedder = HashingEmbedder()
            async with build(
                settings, embedder=embedder, classifier=Classifier(embedder=embedder, settings=settings)
            ) as services:
                bot = TelegramBot(services, polling=True)
                stop = asyncio.Event()
                task = asyncio.create_task(bot.run_polling(stop))
                try:
                    await asyncio.to_thread(tg.user_says, MEMBER, "/model general")
                    await asyncio.to_thread(tg.wait_messages, MEMBER, 1)
                    fakes["general"].push(Reply(text="Paris."))
                    await asyncio.to_thread(tg.user_sends_voice, MEMBER, b"OggS-capital-question")
                    got = await asyncio.to_thread(tg.wait_messages, MEMBER, 2, after=1)
                    assert got[1].plain == "🎙️ “What is the capital of France?”"
                    assert got[2].plain == "Paris."
                    [heard] = ears.audio_requests
                    assert b"OggS-capital-question" in heard.body and b'filename="voice.ogg"' in heard.body
                finally:
                    stop.set()
                    await asyncio.wait_for(task, 30)
                await services.accounting.flush()
                orders = await services.store.work_orders(TenantScope("acme")).list(limit=50)
                assert any(o.route == "transcription" and o.status == "done" for o in orders), [
                    (o.route, o.status) for o in orders
                ]
