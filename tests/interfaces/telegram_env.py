"""A real gateway serving the Telegram webhook, in front of FakeTelegram and one FakeOpenAI per model.

Users (NEXUS_TELEGRAM_USERS): 1001 = acme admin, 1002 = acme member, 2001 = globex member.
The catalogue's `general` model reads images (capability `vision`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from tests.pipeline.harness import write_test_catalogue

from nexus.config.settings import Settings
from nexus.testing import FakeOpenAI, FakeTelegram
from nexus.testing.fake_telegram import DEFAULT_TOKEN, SentMessage
from nexus.testing.gateway import GatewayServer

ADMIN, MEMBER, GLOBEX = 1001, 1002, 2001
USERS = f"{ADMIN}=acme:admin,{MEMBER}=acme:member,{GLOBEX}=globex:member"
SECRET = "webhook-secret-0123456789"
HOOK_PATH = "/telegram/hook-a1b2c3"


def write_vision_catalogue(path: Path, fakes: dict[str, FakeOpenAI]) -> Path:
    """The pipeline tests' catalogue, with `general` able to read images."""
    write_test_catalogue(path, fakes)
    cat = yaml.safe_load(path.read_text())
    for entry in cat["models"]:
        if entry["id"] == "general":
            entry["capabilities"] = ["tools", "json", "vision"]
    path.write_text(yaml.safe_dump(cat, sort_keys=False))
    return path


def telegram_settings(data_dir: Path, catalogue: Path, tg: FakeTelegram, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "config": catalogue,
        "auth": "on",
        "attempt_timeout_s": 5,
        "total_timeout_s": 10,
        "max_retries": 0,
        "telegram_base_url": tg.base_url,
        "telegram_users": USERS,
        "telegram_webhook_secret": SECRET,
        "telegram_webhook_path": HOOK_PATH,
        **extra,
    }
    return Settings(**values)


@dataclass
class TelegramEnv:
    gw: GatewayServer
    tg: FakeTelegram
    fakes: dict[str, FakeOpenAI]
    settings: Settings

    def say(self, user: int, text: str, *, chat: int | None = None, n: int = 1) -> list[SentMessage]:
        """`user` writes `text` in `chat` (their private chat by default); the bot's `n` new replies."""
        chat_id = chat if chat is not None else user
        before = len(self.tg.messages(chat_id))
        delivery = self.tg.user_says(
            user, text, chat_id=chat_id, chat_type="private" if chat is None else "group"
        )
        assert delivery is not None and delivery.status == 200, delivery
        return self.tg.wait_messages(chat_id, n, after=before)[before:]

    def flush(self) -> None:
        self.gw.call(self.gw.services.accounting.flush())


def token() -> str:
    return DEFAULT_TOKEN


def register(settings: Settings, url: str) -> str:
    from nexus.cli.telegram import register_webhook

    return asyncio.run(register_webhook(settings, url))
