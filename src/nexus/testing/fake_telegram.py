"""FakeTelegram: the Telegram Bot API over loopback HTTP, for tests of bots (ours, and users' own).

It speaks the real protocol — `POST /bot<token>/<method>` with JSON, form or multipart bodies,
`{"ok": true, "result": …}` answers, files under `/file/bot<token>/<path>` — and plays the users:

    with FakeTelegram() as tg:                      # NEXUS_TELEGRAM_BASE_URL = tg.base_url
        tg.user_says(42, "/start")                  # an update, by getUpdates or the set webhook
        replies = tg.wait_messages(chat_id=42, count=1)
        assert "Hello" in replies[0].plain

Methods: getMe, getUpdates (long polling), setWebhook / deleteWebhook / getWebhookInfo (updates are
then POSTed to the webhook with the `X-Telegram-Bot-Api-Secret-Token` header), sendMessage,
editMessageText, sendChatAction, getFile, setMyCommands / getMyCommands / deleteMyCommands, close,
logOut. MarkdownV2 texts are parsed with `nexus.testing.markdown_v2` and refused with Telegram's own
400 errors when invalid or longer than 4,096 characters, so a test sees what the real server would do.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import orjson

from nexus.testing.markdown_v2 import MarkdownV2Error, parse, utf16_len
from nexus.testing.script import Reply
from nexus.testing.server import Event, Exchange, FakeServer, RecordedRequest

DEFAULT_TOKEN = "123456789:AAFakeTelegramTokenForTests0123456789"
MAX_TEXT = 4096


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent (or its latest edit): the raw text as sent and what a user would see."""

    chat_id: int
    message_id: int
    text: str
    plain: str
    entities: list[dict[str, Any]]
    parse_mode: str | None
    edits: int = 0


@dataclass(slots=True)
class Delivery:
    update_id: int
    status: int
    body: str = ""


@dataclass
class _Files:
    data: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id → (path, bytes)
    n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, data: bytes, suffix: str) -> tuple[str, str]:
        k = next(self.n)
        file_id, path = f"file-{k:05d}", f"files/{k:05d}.{suffix}"
        self.data[file_id] = (path, data)
        return file_id, path


class BotApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


class FakeTelegram(FakeServer):
    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "nexus_test_bot", **kw: Any) -> None:
        super().__init__(**kw)
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.sent: list[SentMessage] = []
        self.actions: list[tuple[int, str]] = []
        self.commands: list[dict[str, str]] = []
        self.webhook: dict[str, Any] | None = None
        self.deliveries: list[Delivery] = []
        self.calls: list[str] = []  # Bot API method names, in order
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._files = _Files()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._new_update: asyncio.Event | None = None

    # -- addresses -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What NEXUS_TELEGRAM_BASE_URL should be: the token is appended, as python-telegram-bot does."""
        return self.url + "/bot"

    @property
    def file_base_url(self) -> str:
        return self.url + "/file/bot"

    # -- the users' side -----------------------------------------------------------------------
    def user_says(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        username: str | None = None,
    ) -> Delivery | None:
        """A user sends `text` (a '/command' carries its bot_command entity, as Telegram adds it)."""
        message = self._message(user_id, chat_id, chat_type, username)
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        return self.push_update({"message": message})

    def user_sends_photo(
        self, user_id: int, data: bytes, *, caption: str = "", chat_id: int | None = None
    ) -> Delivery | None:
        file_id, _ = self._files.add(data, "jpg")
        message = self._message(user_id, chat_id, "private", None)
        message["photo"] = [
            {"file_id": file_id + "-s", "file_unique_id": file_id + "s", "width": 90, "height": 90},
            {
                "file_id": file_id,
                "file_unique_id": file_id,
                "width": 800,
                "height": 600,
                "file_size": len(data),
            },
        ]
        self._files.data[file_id + "-s"] = self._files.data[file_id]
        if caption:
            message["caption"] = caption
        return self.push_update({"message": message})

    def user_sends_voice(
        self, user_id: int, data: bytes, *, duration: int = 2, chat_id: int | None = None
    ) -> Delivery | None:
        file_id, _ = self._files.add(data, "oga")
        message = self._message(user_id, chat_id, "private", None)
        message["voice"] = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self.push_update({"message": message})

    def _message(
        self, user_id: int, chat_id: int | None, chat_type: str, username: str | None
    ) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id if chat_id is not None else user_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = f"User{user_id}"
        else:
            chat["title"] = f"Group {chat['id']}"
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User{user_id}",
                "username": username or f"user{user_id}",
            },
        }

    def push_update(self, update: dict[str, Any]) -> Delivery | None:
        """Queue an update: delivered to the webhook when one is set (the result is returned once the
        webhook answered), else kept for getUpdates."""
        update = {"update_id": next(self._update_ids), **update}
        with self._lock:
            hook = dict(self.webhook) if self.webhook else None
            if hook is None:
                self._updates.append(update)
        if hook is not None:
            return self._on_loop(self._deliver(hook, update))
        if self._loop is not None and self._new_update is not None:
            self._loop.call_soon_threadsafe(self._new_update.set)
        return None

    async def _deliver(self, hook: dict[str, Any], update: dict[str, Any]) -> Delivery:
        headers = {"content-type": "application/json"}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        async with httpx.AsyncClient(timeout=120) as client:
            try:
                r = await client.post(hook["url"], content=orjson.dumps(update), headers=headers)
                result = Delivery(update["update_id"], r.status_code, r.text)
            except httpx.HTTPError as exc:
                result = Delivery(update["update_id"], 0, f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.deliveries.append(result)
        return result

    def _on_loop(self, coro: Any) -> Any:
        assert self._loop is not None, "start the fake first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(180)

    # -- reading what the bot did --------------------------------------------------------------
    def messages(self, chat_id: int | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.sent if chat_id is None or m.chat_id == chat_id]

    def wait_messages(
        self, chat_id: int, count: int = 1, *, after: int = 0, timeout: float = 30.0
    ) -> list[SentMessage]:
        """The chat's messages once at least `after + count` exist (all of them, oldest first)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = [m for m in self.sent if m.chat_id == chat_id]
                if len(got) >= after + count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    texts = [m.plain[:80] for m in got]
                    raise TimeoutError(
                        f"chat {chat_id}: {len(got)} messages, wanted {after + count}: {texts}"
                    )
                self._changed.wait(left)

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self.sent.clear()
            self.actions.clear()
            self.deliveries.clear()
            self.calls.clear()
            self._updates.clear()

    # -- the Bot API ---------------------------------------------------------------------------
    async def handle(self, ex: Exchange) -> None:
        req = ex.request
        if self._new_update is None:
            self._new_update = asyncio.Event()
        prefix = f"/bot{self.token}/"
        file_prefix = f"/file/bot{self.token}/"
        path = unquote(req.path)  # clients may percent-encode the token's ':'
        if req.method == "GET" and path.startswith(file_prefix):
            path = path[len(file_prefix) :]
            found = next((d for p, d in self._files.data.values() if p == path), None)
            if found is None:
                ex.send(404, self.error_body(404, "Not Found"))
            else:
                ex.send(200, found, {"content-type": "application/octet-stream"})
            return
        if not path.startswith(prefix):
            status = 401 if path.startswith("/bot") else 404
            ex.send(status, self.error_body(status, "Unauthorized" if status == 401 else "Not Found"))
            return
        method = path[len(prefix) :]
        try:
            params = _params(req)
            handler = getattr(self, "_m_" + method.lower(), None)
            if handler is None:
                raise BotApiError(404, "Not Found: method not found")
            with self._lock:
                self.calls.append(method)
            result = await handler(params)
        except BotApiError as exc:
            ex.send(exc.code, self.error_body(exc.code, exc.description))
            return
        ex.send(200, orjson.dumps({"ok": True, "result": result}))

    def error_body(self, status: int, message: str) -> bytes:
        return orjson.dumps({"ok": False, "error_code": status, "description": message})

    async def _m_getme(self, p: dict[str, Any]) -> Any:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Nexus",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getupdates(self, p: dict[str, Any]) -> Any:
        if self.webhook:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = int(p.get("offset") or 0)
        limit = int(p.get("limit") or 100)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        assert self._new_update is not None
        while True:
            with self._lock:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = self._updates[:limit]
            left = deadline - time.monotonic()
            if ready or left <= 0:
                return ready
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), min(left, 0.5))
            except TimeoutError:
                pass

    def _record(self, p: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        text = str(p.get("text") or "")
        mode = p.get("parse_mode")
        if not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        if mode == "MarkdownV2":
            try:
                plain, entities = parse(text)
            except MarkdownV2Error as exc:
                raise BotApiError(400, f"Bad Request: {exc}") from None
        elif mode in (None, ""):
            plain, entities = text, []
        else:
            raise BotApiError(400, f"Bad Request: unsupported parse_mode {mode!r} in this fake")
        if utf16_len(plain) > MAX_TEXT:
            raise BotApiError(400, "Bad Request: message is too long")
        chat_id = int(p["chat_id"])
        with self._changed:
            if message_id is None:
                msg = SentMessage(chat_id, next(self._message_ids), text, plain, entities, mode)
                self.sent.append(msg)
            else:
                found = next(
                    (m for m in self.sent if m.chat_id == chat_id and m.message_id == message_id), None
                )
                if found is None:
                    raise BotApiError(400, "Bad Request: message to edit not found")
                msg = found
                if msg.text == text:
                    raise BotApiError(400, "Bad Request: message is not modified")
                msg.text, msg.plain, msg.entities, msg.parse_mode = text, plain, entities, mode
                msg.edits += 1
            self._changed.notify_all()
        return {
            "message_id": msg.message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Nexus", "username": self.username},
            "text": plain,
            **({"entities": entities} if entities else {}),
        }

    async def _m_sendmessage(self, p: dict[str, Any]) -> Any:
        if "chat_id" not in p:
            raise BotApiError(400, "Bad Request: chat_id is empty")
        return self._record(p)

    async def _m_editmessagetext(self, p: dict[str, Any]) -> Any:
        return self._record(p, int(p.get("message_id") or 0))

    async def _m_sendchataction(self, p: dict[str, Any]) -> Any:
        with self._lock:
            self.actions.append((int(p["chat_id"]), str(p.get("action"))))
        return True

    async def _m_getfile(self, p: dict[str, Any]) -> Any:
        found = self._files.data.get(str(p.get("file_id")))
        if found is None:
            raise BotApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": p["file_id"],
            "file_unique_id": str(p["file_id"]).replace("-", ""),
            "file_size": len(found[1]),
            "file_path": found[0],
        }

    async def _m_setwebhook(self, p: dict[str, Any]) -> Any:
        url = str(p.get("url") or "")
        with self._lock:
            self.webhook = {"url": url, "secret_token": p.get("secret_token")} if url else None
            if p.get("drop_pending_updates") in (True, "true", "True"):
                self._updates.clear()
        return True

    async def _m_deletewebhook(self, p: dict[str, Any]) -> Any:
        with self._lock:
            self.webhook = None
            if p.get("drop_pending_updates") in (True, "true", "True"):
                self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, p: dict[str, Any]) -> Any:
        with self._lock:
            return {
                "url": (self.webhook or {}).get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }

    async def _m_setmycommands(self, p: dict[str, Any]) -> Any:
        commands = p.get("commands") or []
        self.commands = orjson.loads(commands) if isinstance(commands, str) else list(commands)
        return True

    async def _m_getmycommands(self, p: dict[str, Any]) -> Any:
        return self.commands

    async def _m_deletemycommands(self, p: dict[str, Any]) -> Any:
        self.commands = []
        return True

    async def _m_close(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_logout(self, p: dict[str, Any]) -> Any:
        return True

    # FakeServer's model-API hooks: this fake answers every request in `handle` above.
    def route(self, req: RecordedRequest, payload: Any) -> str | None:
        return None

    def models_body(self) -> Any:
        return {}

    def answer(self, payload: Any, req: RecordedRequest, reply: Reply) -> Any:
        return {}

    def stream_events(self, payload: Any, req: RecordedRequest, reply: Reply) -> list[Event]:
        return []


def _params(req: RecordedRequest) -> dict[str, Any]:
    """Bot API parameters from the query string and a JSON, form or multipart body."""
    out: dict[str, Any] = dict(req.query)
    ctype = req.headers.get("content-type", "")
    if not req.body:
        return out
    if ctype.startswith("application/json"):
        body = orjson.loads(req.body)
        if isinstance(body, dict):
            out.update(body)
    elif ctype.startswith("application/x-www-form-urlencoded"):
        out.update(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
    elif ctype.startswith("multipart/form-data"):
        head = f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + req.body)
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                out[str(name)] = data if part.get_filename() else data.decode("utf-8")
    else:
        raise BotApiError(400, f"Bad Request: unsupported content type {ctype!r}")
    return out
