"""The Telegram front door: python-telegram-bot handlers on top of ChatService, nothing more.

Every text, photo and voice turn is `services.chat.turn(Caller(principal, door="telegram"), …)`: the
rate limits, budgets, guard, tenancy and accounting are the service's. What this door owns is the
protocol: who the Telegram user is (the allow-list), one session per chat (`/new` starts another;
a paused run's question is a message and the next message answers it), rendering answers as valid
MarkdownV2 parts, and the commands.

Two ways to receive updates, one set of handlers: long polling (`run_polling`, used by
`nexus telegram --mode polling`) or the gateway's webhook route (`process`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import BotCommand, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from nexus.interfaces.telegram import replies
from nexus.interfaces.telegram.access import AccessList, parse_allow_list
from nexus.interfaces.telegram.chats import Chats
from nexus.interfaces.telegram.markdown import to_markdown_v2
from nexus.interfaces.telegram.reports import audit_text, cost_text, model_text, status_text
from nexus.interfaces.telegram.voice import (
    VOICE_NOT_CONFIGURED,
    Transcriber,
    TranscriptionError,
    default_transcriber,
)
from nexus.pipeline.events import FinalData, InterruptData
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.runtime import Services
from nexus.service.chat import AUTO_MODEL, TurnRequest
from nexus.service.errors import ServiceError, as_service_error, forbidden
from nexus.service.identity import DEFAULT_TENANT, Caller, Principal

log = logging.getLogger("nexus.telegram")

DOOR = "telegram"
TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
COMMANDS = (
    ("start", "Introduction and the commands"),
    ("help", "The commands"),
    ("new", "Start a fresh conversation"),
    ("status", "Health of Nexus"),
    ("escalate", "Re-run your last request on the escalation model"),
    ("cost", "Your team's spend today and this month"),
    ("audit", "The latest audit entries (admins)"),
    ("model", "Show or pin the model of this chat"),
)
HELP = "\n".join(
    ["I answer through Nexus: write a message, send a photo or a voice note.", ""]
    + [f"/{name} — {what}" for name, what in COMMANDS]
)
PHOTO_PROMPT = "Describe this image."
TYPING_EVERY_S = 4.5
SEEN_UPDATES = 2048

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


class TelegramNotConfigured(Exception):
    """No bot token: set TELEGRAM_BOT_TOKEN (environment or secrets file)."""


def file_base_url(base_url: str) -> str:
    """Telegram serves files beside the Bot API: …/bot → …/file/bot."""
    base = base_url.rstrip("/")
    return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file/bot"


@dataclass(frozen=True, slots=True)
class _Who:
    principal: Principal
    chat_id: int
    user_id: int

    def caller(self) -> Caller:
        return Caller(principal=self.principal, door=DOOR, request_id="tg-" + uuid.uuid4().hex[:20])


Step = Callable[[_Who, Update, list[str]], Awaitable[None]]


class TelegramBot:
    def __init__(
        self,
        services: Services,
        *,
        token: str | None = None,
        access: AccessList | None = None,
        transcriber: Transcriber | None = None,
        polling: bool = False,
    ) -> None:
        settings = services.settings
        token = token or settings.secret(TOKEN_ENV)
        if not token:
            raise TelegramNotConfigured(f"set {TOKEN_ENV} (environment or secrets file) to run the bot")
        self.services = services
        self.access = access or AccessList(
            parse_allow_list(settings.telegram_users, settings.telegram_user_rpm)
        )
        self.transcriber = transcriber if transcriber is not None else default_transcriber(services)
        self.chats = Chats(services.store)
        builder = (
            Application.builder()
            .token(token)
            .base_url(settings.telegram_base_url)
            .base_file_url(file_base_url(settings.telegram_base_url))
            .concurrent_updates(True)
        )
        if not polling:
            builder = builder.updater(None)
        self.app = builder.build()
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._register()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (getMe) and publish the command menu; the webhook route may then `process` updates."""
        await self.app.initialize()
        try:
            await self.app.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])
        except TelegramError as exc:  # the menu is a convenience; the bot works without it
            log.warning("could not publish the command menu", extra={"error": str(exc)})
        await self.app.start()

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Long-poll getUpdates until `stop` is set (the webhook, if any, is removed first)."""
        await self.start()
        assert self.app.updater is not None, "build the bot with polling=True"
        try:
            await self.app.bot.delete_webhook()
            await self.app.updater.start_polling(timeout=20, drop_pending_updates=False)
            await stop.wait()
        finally:
            await self.stop()

    async def process(self, data: dict[str, Any]) -> None:
        """One update from the webhook; a redelivered update (Telegram retries) is handled once."""
        update = Update.de_json(data, self.app.bot)
        if update.update_id in self._seen:
            return
        self._seen[update.update_id] = None
        if len(self._seen) > SEEN_UPDATES:
            self._seen.popitem(last=False)
        await self.app.process_update(update)

    # -- handlers ------------------------------------------------------------------------------
    def _register(self) -> None:
        commands: dict[str, Step] = {
            "start": self._start,
            "help": self._help,
            "new": self._new,
            "status": self._status,
            "escalate": self._escalate,
            "cost": self._cost,
            "audit": self._audit,
            "model": self._model,
        }
        for name, fn in commands.items():
            self.app.add_handler(CommandHandler(name, self._guarded(fn)))
        self.app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._guarded(self._text)))
        self.app.add_handler(MessageHandler(filters.PHOTO, self._guarded(self._photo)))
        self.app.add_handler(MessageHandler(filters.VOICE | filters.AUDIO, self._guarded(self._voice)))
        self.app.add_handler(MessageHandler(filters.COMMAND, self._guarded(self._unknown)))
        self.app.add_error_handler(self._on_error)

    def _guarded(self, fn: Step) -> Handler:
        """Resolve the user against the allow-list (refuse and audit anyone else), then run `fn`;
        a refusal of the service layer becomes a reply, never a silent failure."""

        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            user, chat = update.effective_user, update.effective_chat
            if chat is None or update.effective_message is None:
                return
            principal = self.access.principal(user.id if user else None)
            if principal is None:
                await self._refuse(update)
                return
            who = _Who(principal, chat.id, user.id if user else 0)
            try:
                await fn(who, update, list(context.args or []))
            except Exception as exc:
                mapped = as_service_error(exc)
                if mapped is None:
                    log.exception("telegram handler failed", extra={"chat_id": chat.id})
                    mapped = ServiceError(500, "Internal error.", code="internal_error")
                await self.say(chat.id, replies.refusal_of(mapped))

        return handler

    async def _refuse(self, update: Update) -> None:
        user, chat = update.effective_user, update.effective_chat
        assert chat is not None
        await self.services.accounting.audit(
            action="telegram.refused",
            tenant_id=DEFAULT_TENANT,
            actor=f"tg:{user.id}" if user else "tg:unknown",
            target=str(chat.id),
            status="denied",
            details={"door": DOOR, "chat_type": chat.type, "username": (user.username if user else None)},
        )
        log.warning("telegram user not on the allow-list", extra={"user_id": user.id if user else None})
        await self.say(chat.id, replies.not_allowed())

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed", exc_info=context.error)

    async def _start(self, who: _Who, update: Update, args: list[str]) -> None:
        await self.say(who.chat_id, f"Hello! You are in **{who.principal.tenant_id}**.\n\n{HELP}")

    async def _help(self, who: _Who, update: Update, args: list[str]) -> None:
        await self.say(who.chat_id, HELP)

    async def _unknown(self, who: _Who, update: Update, args: list[str]) -> None:
        await self.say(who.chat_id, "I do not know that command.\n\n" + HELP)

    async def _new(self, who: _Who, update: Update, args: list[str]) -> None:
        await self.chats.new_session(who.principal.tenant_id, who.chat_id)
        await self.say(who.chat_id, "Started a new conversation.")

    async def _status(self, who: _Who, update: Update, args: list[str]) -> None:
        await self.say(who.chat_id, await status_text(self.services, who.principal))

    async def _cost(self, who: _Who, update: Update, args: list[str]) -> None:
        await self.say(who.chat_id, await cost_text(self.services, who.principal))

    async def _audit(self, who: _Who, update: Update, args: list[str]) -> None:
        if not who.principal.is_admin:
            raise forbidden("The audit log is for admins of your team.")
        await self.say(who.chat_id, await audit_text(self.services, who.principal))

    async def _model(self, who: _Who, update: Update, args: list[str]) -> None:
        tenant = who.principal.tenant_id
        if args:
            choice = args[0].strip()
            if choice in ("auto", AUTO_MODEL):
                await self.chats.pin(tenant, who.chat_id, None)
            else:
                self.services.hub.entry(choice)  # UnknownModel → "that model does not exist"
                if not self.services.hub.is_available(choice):
                    raise ServiceError(
                        503, f"The model {choice!r} has no credentials.", code="model_unavailable"
                    )
                await self.chats.pin(tenant, who.chat_id, choice)
        state = await self.chats.get(tenant, who.chat_id)
        await self.say(who.chat_id, model_text(self.services, state.model))

    async def _escalate(self, who: _Who, update: Update, args: list[str]) -> None:
        state = await self.chats.get(who.principal.tenant_id, who.chat_id)
        if not state.last_request:
            await self.say(who.chat_id, "There is no earlier request in this chat to escalate.")
            return
        model = self.services.hub.catalogue.role("escalation")
        await self.say(who.chat_id, f"Re-running your last request on `{model}`…")
        await self._turn(who, [ChatMessage(role="user", content=state.last_request)], model=model)

    async def _text(self, who: _Who, update: Update, args: list[str]) -> None:
        msg = update.effective_message
        assert msg is not None and msg.text is not None
        await self._turn(who, [ChatMessage(role="user", content=msg.text)], remember=msg.text)

    async def _photo(self, who: _Who, update: Update, args: list[str]) -> None:
        msg = update.effective_message
        assert msg is not None and msg.photo
        file = await msg.photo[-1].get_file()  # the largest size
        data = bytes(await file.download_as_bytearray())
        url = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        prompt = msg.caption or PHOTO_PROMPT
        parts: list[dict[str, Any]] = [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": url}},
        ]
        # The image travels in the request itself, so this turn carries its own (one-message) history.
        await self._turn(who, [ChatMessage(role="user", content=parts)], client_history=True)

    async def _voice(self, who: _Who, update: Update, args: list[str]) -> None:
        msg = update.effective_message
        assert msg is not None
        if self.transcriber is None:
            await self.say(who.chat_id, VOICE_NOT_CONFIGURED)
            return
        media = msg.voice or msg.audio
        assert media is not None
        data = bytes(await (await media.get_file()).download_as_bytearray())
        try:
            text = await self.transcriber.transcribe(
                who.caller(), data, mime_type=media.mime_type or "audio/ogg"
            )
        except TranscriptionError as exc:
            await self.say(who.chat_id, f"I could not understand the voice note: {exc}")
            return
        if not text.strip():
            await self.say(who.chat_id, "The voice note had no words I could make out.")
            return
        await self.say(who.chat_id, f"🎙️ “{text.strip()}”")
        await self._turn(who, [ChatMessage(role="user", content=text)], remember=text)

    # -- one chat turn through the service -----------------------------------------------------
    async def _turn(
        self,
        who: _Who,
        messages: list[ChatMessage],
        *,
        model: str | None = None,
        remember: str | None = None,
        client_history: bool = False,
    ) -> None:
        tenant = who.principal.tenant_id
        state = await self.chats.get(tenant, who.chat_id)
        req = TurnRequest(
            chat=ChatRequest(model=model or state.model or AUTO_MODEL, messages=messages),
            session_id=state.session_id,
            resume="auto",
            client_history=client_history,
        )
        typing = asyncio.create_task(self._typing(who.chat_id))
        try:
            turn = await self.services.chat.turn(who.caller(), req)
            outcome = await turn.result()
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
            if remember is not None:
                await self.chats.remember(tenant, who.chat_id, remember)
        if isinstance(outcome, InterruptData):
            await self.say(who.chat_id, f"❓ {outcome.question}\n\n(Reply to continue.)")
        elif isinstance(outcome, FinalData):
            await self.say(who.chat_id, outcome.answer)

    async def _typing(self, chat_id: int) -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await self.app.bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(TYPING_EVERY_S)

    async def say(self, chat_id: int, markdown: str) -> None:
        """Send Markdown as MarkdownV2 parts of at most 4,096 characters, in order."""
        for part in to_markdown_v2(markdown):
            try:
                await self.app.bot.send_message(chat_id, part, parse_mode=ParseMode.MARKDOWN_V2)
            except BadRequest as exc:
                # Our renderer's output is valid MarkdownV2; should Telegram disagree, the text still goes.
                log.warning("MarkdownV2 refused; sending plain text", extra={"error": str(exc)})
                await self.app.bot.send_message(chat_id, part)
