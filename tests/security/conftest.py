"""One real gateway (auth on, JWT HS256) per module in front of a FakeOpenAI that demands a secret key,
with two tenants' admin keys created against the app's own store; every log record is captured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nexus.config.settings import Settings
from nexus.service.keys import create_api_key
from nexus.telemetry.logs import JsonFormatter
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer, write_catalogue

UPSTREAM_SECRET = "sk-sec-upstream-credential-9f8e7d6c5b4a"
JWT_SECRET = "jwt-test-secret-0123456789abcdef0123456789"
AUDIENCE = "nexus-tests"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Env:
    gw: GatewayServer
    upstream: FakeOpenAI
    keys: dict[str, str]  # tenant -> admin key
    key_ids: dict[str, str] = field(default_factory=dict)
    logs: Capture = field(default_factory=Capture)

    def h(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[tenant]}"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    d: Path = tmp_path_factory.mktemp("sec")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_SEC_UPSTREAM_KEY", UPSTREAM_SECRET)
    capture = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    with FakeOpenAI(api_key=UPSTREAM_SECRET) as up:
        cat = write_catalogue(
            d / "catalogue.yaml",
            [
                {
                    "id": "m1",
                    "model": "up-m1",
                    "base_url": up.base_url,
                    "api_key_env": "NEXUS_SEC_UPSTREAM_KEY",
                }
            ],
        )
        settings = Settings(
            data_dir=d,
            config=cat,
            jwt_secret=JWT_SECRET,
            jwt_audience=AUDIENCE,
            max_body_bytes=1024 * 1024,
            max_messages=50,
            attempt_timeout_s=5,
            total_timeout_s=10,
            max_retries=0,
        )
        with GatewayServer(settings) as gw:
            keys: dict[str, str] = {}
            ids: dict[str, str] = {}
            for tenant in ("acme", "globex"):
                token, row = gw.call(create_api_key(gw.services.store, tenant=tenant, role="admin"))
                keys[tenant], ids[tenant] = token, row.id  # type: ignore[attr-defined]
            yield Env(gw, up, keys, ids, capture)
    root.removeHandler(capture)
    root.setLevel(old_level)
    mp.undo()
