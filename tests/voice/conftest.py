# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""A real gateway (auth on) over real HTTP/WebSocket, with the pipeline's fake upstreams per chat model
and one FakeOpenAI serving the audio entries `whisper` (audio_in) and `tts` (audio_out)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue

from nexus.config.settings import Settings
from nexus.service.keys import BudgetSpec, create_api_key
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer

AUDIO_ENTRIES = (
    {"id": "whisper", "model": "whisper-1", "capabilities": ["audio_in"], "input_price_per_mtok": 10.0},
    {"id": "tts", "model": "tts-1", "capabilities": ["audio_out"], "input_price_per_mtok": 60.0},
)


def with_audio(path: Path, audio: FakeOpenAI) -> Path:
    """Add the audio entries (served by `audio`) to a catalogue file written by the pipeline harness."""
    cat = yaml.safe_load(path.read_text(encoding="utf-8"))
    for e in AUDIO_ENTRIES:
        cat["models"].append(
            {
                "provider": "openai",
                "base_url": audio.base_url,
                "api_key_env": "NEXUS_TEST_KEY",
                "output_price_per_mtok": 0.0,
                "context_window": 1,
                "tags": ["audio"],
                **e,
            }
        )
    path.write_text(yaml.safe_dump(cat, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class VoiceEnv:
    gw: GatewayServer
    fakes: dict[str, FakeOpenAI]
    audio: FakeOpenAI

    def key(
        self, tenant: str | None = None, *, rpm: int | None = None, budget: BudgetSpec | None = None
    ) -> tuple[str, str, str]:
        tenant = tenant or "t" + uuid.uuid4().hex[:10]
        token, row = self.gw.call(
            create_api_key(self.gw.services.store, tenant=tenant, role="member", rpm=rpm, budget=budget)
        )
        if budget is not None:
            self.gw.call(self.gw.services.budgets.reload_rules())
        return token, row.id, tenant

    def flush(self) -> None:
        self.gw.call(self.gw.services.accounting.flush())

    def work_orders(self, tenant: str) -> list[Any]:
        from nexus.store import TenantScope

        self.flush()
        return list(self.gw.call(self.gw.services.store.work_orders(TenantScope(tenant)).list(limit=100)))

    def exhaust(self, tenant: str, key_id: str) -> None:
        async def spend() -> None:
            await self.gw.services.budgets.reload_rules()
            self.gw.services.budgets.record(tenant, key_id, 10_000, 0.0)

        self.gw.call(spend())


def voice_settings(d: Path, catalogue: Path, **extra: Any) -> Settings:
    return Settings(
        data_dir=d,
        config=catalogue,
        auth="on",
        attempt_timeout_s=5,
        total_timeout_s=10,
        max_retries=0,
        voice_model="general",
        **extra,
    )


@pytest.fixture(scope="module")
def audio_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="module")
def voice_env(
    fakes: dict[str, FakeOpenAI],  # noqa: F811
    classifier_cache: Path,  # noqa: F811
    audio_fake: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[VoiceEnv]:
    d = tmp_path_factory.mktemp("voice")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    cat = with_audio(write_test_catalogue(d / "catalogue.yaml", fakes), audio_fake)
    settings = voice_settings(d, cat)
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as gw:
        from nexus.voice.sphinx import POOL

        asyncio.run(asyncio.to_thread(POOL.warm))
        yield VoiceEnv(gw, fakes, audio_fake)
    mp.undo()


@pytest.fixture(autouse=True)
def _clear(audio_fake: FakeOpenAI, fakes: dict[str, FakeOpenAI]) -> None:  # noqa: F811
    for f in (audio_fake, *fakes.values()):
        f.clear()
