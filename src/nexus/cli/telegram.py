"""`nexus telegram [--mode polling|webhook]`: the Telegram bot (docs/telegram.md).

polling: this process long-polls the Bot API and answers through the service layer until stopped.
webhook: registers NEXUS_TELEGRAM_WEBHOOK_URL (with NEXUS_TELEGRAM_WEBHOOK_SECRET) at Telegram and
exits; the gateway then receives the updates at NEXUS_TELEGRAM_WEBHOOK_PATH.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, Literal

import typer
from rich.console import Console

console = Console()


async def register_webhook(settings: object, url: str | None = None, *, delete: bool = False) -> str:
    """setWebhook (or deleteWebhook) at the Bot API; returns what was done. ValueError when misconfigured."""
    from telegram import Bot

    from nexus.config.settings import Settings
    from nexus.interfaces.telegram import TOKEN_ENV
    from nexus.interfaces.telegram.bot import file_base_url

    assert isinstance(settings, Settings)
    token = settings.secret(TOKEN_ENV)
    if not token:
        raise ValueError(f"set {TOKEN_ENV} first")
    bot = Bot(
        token, base_url=settings.telegram_base_url, base_file_url=file_base_url(settings.telegram_base_url)
    )
    async with bot:
        if delete:
            await bot.delete_webhook()
            return "webhook removed; run `nexus telegram --mode polling` or set it again"
        target = url or settings.telegram_webhook_url
        if not target:
            raise ValueError("give --url or set NEXUS_TELEGRAM_WEBHOOK_URL (the public URL of the webhook)")
        if not settings.telegram_webhook_secret:
            raise ValueError("set NEXUS_TELEGRAM_WEBHOOK_SECRET: the gateway refuses updates without it")
        await bot.set_webhook(
            target, secret_token=settings.telegram_webhook_secret, allowed_updates=["message"]
        )
    return f"webhook set to {target}; the gateway serves it at {settings.telegram_webhook_path}"


async def run_polling(settings: object) -> None:
    from nexus.config.settings import Settings
    from nexus.interfaces.telegram import TelegramBot
    from nexus.runtime import build

    assert isinstance(settings, Settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build(settings) as services:
        bot = TelegramBot(services, polling=True)
        console.print(f"Telegram bot polling {settings.telegram_base_url}…; Ctrl-C stops it")
        await bot.run_polling(stop)


def telegram_cmd(
    mode: Annotated[
        str,
        typer.Option("--mode", help="polling: run the bot here; webhook: register the gateway's webhook."),
    ] = "polling",
    url: Annotated[
        str | None, typer.Option(help="webhook: the public URL (else NEXUS_TELEGRAM_WEBHOOK_URL).")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="webhook: remove the webhook instead.")] = False,
) -> None:
    """Run the Telegram bot (polling) or register its webhook with Telegram (webhook)."""
    from telegram.error import TelegramError

    from nexus.config.settings import Settings
    from nexus.interfaces.telegram import AllowListError, TelegramNotConfigured

    chosen: Literal["polling", "webhook"]
    if mode not in ("polling", "webhook"):
        console.print("[red]--mode must be polling or webhook[/red]")
        raise typer.Exit(2)
    chosen = mode  # type: ignore[assignment]
    settings = Settings()
    try:
        if chosen == "webhook":
            console.print(asyncio.run(register_webhook(settings, url, delete=delete)))
        else:
            asyncio.run(run_polling(settings))
    except (ValueError, AllowListError, TelegramNotConfigured, TelegramError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
