# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""Fixtures: FakeTelegram, and the gateway serving its webhook (TELEGRAM_BOT_TOKEN set for the module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interfaces.telegram_env import TelegramEnv, register, telegram_settings, write_vision_catalogue
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app

from nexus.testing import FakeOpenAI, FakeTelegram
from nexus.testing.fake_telegram import DEFAULT_TOKEN
from nexus.testing.gateway import GatewayServer


@pytest.fixture(scope="module")
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def tenv(
    tg: FakeTelegram,
    fakes: dict[str, FakeOpenAI],
    classifier_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TelegramEnv]:
    d = tmp_path_factory.mktemp("telegram")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    mp.setenv("TELEGRAM_BOT_TOKEN", DEFAULT_TOKEN)
    settings = telegram_settings(d, write_vision_catalogue(d / "catalogue.yaml", fakes), tg)
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as gw:
        register(settings, gw.base_url + settings.telegram_webhook_path)
        yield TelegramEnv(gw, tg, fakes, settings)
    mp.undo()


@pytest.fixture(autouse=True)
def _fresh_upstreams(fakes: dict[str, FakeOpenAI]) -> None:
    for f in fakes.values():
        f.clear()
