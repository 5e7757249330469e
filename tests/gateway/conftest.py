"""A real gateway on loopback in front of real fake upstreams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.config.settings import Settings
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer, write_catalogue


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    """Two OpenAI-compatible upstreams: `primary` and `backup` (the primary's fallback)."""
    with FakeOpenAI() as primary, FakeOpenAI() as backup:
        yield primary, backup


@pytest.fixture(scope="module")
def gateway(
    upstreams: tuple[FakeOpenAI, FakeOpenAI], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    primary, backup = upstreams
    d: Path = tmp_path_factory.mktemp("gw")
    cat = write_catalogue(
        d / "catalogue.yaml",
        [
            {"id": "primary", "model": "up-primary", "base_url": primary.base_url, "fallbacks": ["backup"]},
            {"id": "backup", "model": "up-backup", "base_url": backup.base_url},
            {"id": "solo", "model": "up-solo", "base_url": primary.base_url, "tags": ["solo"]},
            {"id": "keyless", "model": "x", "base_url": primary.base_url, "api_key_env": "NEXUS_NO_SUCH_KEY"},
        ],
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", "sk-test-upstream-secret-123456")
    mp.delenv("NEXUS_NO_SUCH_KEY", raising=False)
    settings = Settings(
        data_dir=d,
        config=cat,
        auth="off",
        attempt_timeout_s=1.5,
        total_timeout_s=10,
        max_retries=2,
        retry_base_delay_s=0.01,
        retry_max_delay_s=0.5,
    )
    with GatewayServer(settings) as gw:
        yield gw
    mp.undo()


@pytest.fixture(autouse=True)
def _fresh_scripts(upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    for u in upstreams:
        u.clear()
