"""POST /telegram/{path}: the Telegram webhook, served when TELEGRAM_BOT_TOKEN and
NEXUS_TELEGRAM_WEBHOOK_SECRET are set, at NEXUS_TELEGRAM_WEBHOOK_PATH (under /telegram/).

Telegram authenticates itself with the secret token it was given at setWebhook, in the
`X-Telegram-Bot-Api-Secret-Token` header: a wrong or missing one is a 403. The bearer-key gate does
not apply here (security.SELF_AUTHENTICATED); who the Telegram user is, is the bot's allow-list.
The update is handled before the answer (Telegram redelivers an unanswered one; the bot handles a
redelivered update once), so a 200 means the replies have been sent.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request
from starlette.requests import HTTPConnection

from nexus.gateway.deps import services_of
from nexus.service.errors import ServiceError, invalid, not_found

log = logging.getLogger("nexus.gateway.telegram")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookBot:
    """The bot behind the webhook, started on the first update if the Bot API was down at start-up."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.started = False
        self._lock = asyncio.Lock()

    async def ready(self) -> Any:
        async with self._lock:
            if not self.started:
                await self.bot.start()
                self.started = True
        return self.bot


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.telegram = None
    services = app.state.services
    settings = services.settings
    if not (settings.secret("TELEGRAM_BOT_TOKEN") and settings.telegram_webhook_secret):
        yield
        return
    from nexus.interfaces.telegram import TelegramBot

    hook = WebhookBot(TelegramBot(services))
    try:
        await hook.ready()
    except Exception as exc:  # the gateway serves without Telegram until the Bot API answers
        log.error("Telegram bot did not start; retrying on the next update", extra={"error": str(exc)})
    app.state.telegram = hook
    try:
        yield
    finally:
        app.state.telegram = None
        if hook.started:
            await hook.bot.stop()


router = APIRouter(tags=["telegram"], lifespan=_lifespan)


def webhook_of(conn: HTTPConnection) -> WebhookBot:
    hook = conn.app.state.telegram  # set by this router's lifespan: None when not configured
    if hook is None:
        raise not_found("Telegram is not configured on this gateway.", code="telegram_not_configured")
    return cast(WebhookBot, hook)


@router.post("/telegram/{hook_path:path}", summary="Telegram webhook (secret-token authenticated)")
async def telegram_webhook(hook_path: str, request: Request) -> dict[str, bool]:
    settings = services_of(request).settings
    hook = webhook_of(request)
    if "/telegram/" + hook_path != settings.telegram_webhook_path:
        raise not_found("No such Telegram webhook.", code="not_found")
    expected = settings.telegram_webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ServiceError(403, "Wrong or missing Telegram secret token.", code="forbidden")
    try:
        data = await request.json()
    except ValueError:
        raise invalid("The update is not JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise invalid("Not a Telegram update.", param="update_id")
    bot = await hook.ready()
    await bot.process(data)
    return {"ok": True}
