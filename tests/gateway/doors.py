"""Every front door, driven as a client would, over real HTTP or WebSocket against a real gateway.

`DOORS` is the list the policy matrix walks; `tests/gateway/test_routes.py` enumerates the
app's routes so a route that takes chat turns cannot be added without being listed here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import websockets

from nexus.testing.fake_telegram import FakeTelegram
from nexus.testing.gateway import GatewayServer

EXPLICIT_MODEL = "general"
AMBIGUOUS = "fix it"  # the classifier asks a clarifying question: the run pauses


@dataclass
class Outcome:
    status: int  # the HTTP status, or the `status` of a WebSocket door's error message (200 when none)
    code: str | None = None
    text: str = ""


def _headers(key: str | None, **extra: str) -> dict[str, str]:
    h = {k.replace("_", "-"): v for k, v in extra.items()}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    return h


def _error(r: httpx.Response) -> Outcome:
    try:
        err = r.json().get("error") or {}
    except ValueError:
        err = {}
    return Outcome(r.status_code, err.get("code"), r.text)


async def _openai(
    gw: GatewayServer,
    key: str | None,
    text: str,
    session: str | None,
    *,
    model: str,
    stream: bool,
    parts: bool,
) -> Outcome:
    content: Any = [{"type": "text", "text": text}] if parts else text
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}
    headers = _headers(key, **({"x_nexus_session": session} if session else {}))
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + "/v1/chat/completions", json=body, headers=headers)
    if r.status_code != 200:
        return _error(r)
    if stream:
        datas = [ln[6:] for ln in r.text.splitlines() if ln.startswith("data: ")]
        errors = [json.loads(d)["error"] for d in datas if d.startswith('{"error"')]
        if errors:
            return Outcome(int(errors[0].get("status") or 500), errors[0].get("code"), r.text)
    return Outcome(200, None, r.text)


async def _sse(gw: GatewayServer, key: str | None, path: str, body: dict[str, Any]) -> Outcome:
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + path, json=body, headers=_headers(key))
    return Outcome(200, None, r.text) if r.status_code == 200 else _error(r)


async def _chat(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    return await _sse(gw, key, "/chat", {"message": text, **({"session_id": session} if session else {})})


async def _resume(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    """Resume answers a paused run: pause one first (same key) unless the test names a session."""
    if session is None:
        session = "p-" + uuid.uuid4().hex[:12]
        paused = await _chat(gw, key, AMBIGUOUS, session)
        if paused.status != 200:
            return paused
    return await _sse(gw, key, "/resume", {"session_id": session, "reply": text})


async def _api_chat(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    body = {"content": text, **({"session_id": session} if session else {})}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + "/api/chat", json=body, headers=_headers(key))
    return Outcome(200, None, r.text) if r.status_code == 200 else _error(r)


async def _ws(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    url = gw.base_url.replace("http://", "ws://") + "/ws/chat"
    async with websockets.connect(url, additional_headers=_headers(key), open_timeout=30) as ws:
        try:
            await ws.send(
                json.dumps({"type": "chat", "message": text, **({"session_id": session} if session else {})})
            )
        except websockets.ConnectionClosed:
            pass  # refused on connect: its error message is still there to read
        seen: list[dict[str, Any]] = []
        while True:
            try:
                msg = json.loads(await ws.recv())
            except websockets.ConnectionClosed:
                break
            seen.append(msg)
            if msg["type"] == "error" and msg["data"].get("status"):
                return Outcome(int(msg["data"]["status"]), msg["data"].get("code"), json.dumps(seen))
            if msg["type"] == "done":
                break
    return Outcome(200, None, json.dumps(seen))


async def _work_order(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    """Queued: accepted now (refusals are the POST's status), run by the job engine, polled until done."""
    body = {"content": text, **({"session_id": session} if session else {})}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + "/api/work-orders", json=body, headers=_headers(key))
        if r.status_code != 202:
            return _error(r)
        wo = r.json()["id"]
        for _ in range(600):
            order = (await c.get(gw.base_url + f"/api/work-orders/{wo}", headers=_headers(key))).json()
            if order["status"] in ("done", "failed", "interrupted"):
                ok = order["status"] == "done"
                return Outcome(200 if ok else 500, None if ok else order.get("error"), json.dumps(order))
            await asyncio.sleep(0.05)
    return Outcome(504, "work_order_timeout")


# -- Telegram: a user of the fake Bot API, whose updates reach the gateway's webhook ------------------
# The matrix's gateway serves the webhook (telegram_settings() below); a test key stands for a Telegram
# user: the driver grants the key's principal (tenant, role, limits, budget subject) to a fresh user id
# in the running bot's allow-list — what NEXUS_TELEGRAM_USERS does at start — and talks as that user.
# No key is a user on no list. A refusal reply carries its status and code ("(error 429 …)"); the
# unknown user's 401 "not_allowed" is the door's "invalid_api_key". `session` names a (group) chat:
# Telegram users cannot name sessions, each chat has one per tenant: the rule "per_chat_session"
# replaces "session" for this door (test_policy_matrix checks it).
TELEGRAM_SECRET = "matrix-telegram-secret-0123"
TELEGRAM_HOOK = "/telegram/matrix-hook"
_telegram: FakeTelegram | None = None
_telegram_users = itertools.count(700_000_001)
_telegram_keys: dict[str, int] = {}


def telegram_fake() -> FakeTelegram:
    global _telegram
    if _telegram is None:
        _telegram = FakeTelegram()
        _telegram.start()
    return _telegram


def telegram_settings() -> dict[str, Any]:
    """Settings that make a test gateway serve the Telegram door (set TELEGRAM_BOT_TOKEN to `.token`)."""
    return {
        "telegram_base_url": telegram_fake().base_url,
        "telegram_webhook_secret": TELEGRAM_SECRET,
        "telegram_webhook_path": TELEGRAM_HOOK,
    }


def connect_telegram(gw: GatewayServer) -> None:
    """Point the fake Bot API's webhook at this gateway (setWebhook, as `nexus telegram --mode webhook`)."""
    from nexus.cli.telegram import register_webhook

    asyncio.run(register_webhook(gw.services.settings, gw.base_url + TELEGRAM_HOOK))


async def _telegram_user(gw: GatewayServer, key: str | None) -> int:
    if key is None:
        return next(_telegram_users)  # on no allow-list
    if key not in _telegram_keys:
        principal = await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(gw.services.auth.authenticate(key), gw.state.loop)
        )
        _telegram_keys[key] = next(_telegram_users)
        gw.state.telegram.bot.access.grant(_telegram_keys[key], principal)
    return _telegram_keys[key]


async def _telegram_door(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    from nexus.interfaces.telegram.replies import error_tag

    fake = telegram_fake()
    user = await _telegram_user(gw, key)
    chat = int(session) if session else user
    before = len(fake.messages(chat))
    kind = "private" if chat == user else "group"
    delivery = await asyncio.to_thread(fake.user_says, user, text, chat_id=chat, chat_type=kind)
    if delivery is None or delivery.status != 200:
        return Outcome(delivery.status if delivery else 0, None, delivery.body if delivery else "no webhook")
    replies = "\n".join(m.plain for m in fake.messages(chat)[before:])
    tag = error_tag(replies)
    if tag is None:
        return Outcome(200, None, replies)
    status, code = tag
    return Outcome(status, "invalid_api_key" if code == "not_allowed" else code, replies)


async def _compare(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    """Two models side by side (both the explicit model): one admission, both turns guarded."""
    body = {"prompt": text, "models": [EXPLICIT_MODEL, EXPLICIT_MODEL], "timeout_s": 50}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + "/api/compare", json=body, headers=_headers(key))
    return Outcome(200, None, r.text) if r.status_code == 200 else _error(r)


async def _smart_agent(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    """A smart agent of the key's tenant (made first), asked the text in a conversation of its own."""
    async with httpx.AsyncClient(timeout=60) as c:
        agent = {"name": "a-" + uuid.uuid4().hex[:8], "model": EXPLICIT_MODEL, "faqs": []}
        r = await c.post(gw.base_url + "/api/smart-agents", json=agent, headers=_headers(key))
        if r.status_code != 201:
            return _error(r)
        body = {"session_id": session or "visit-" + uuid.uuid4().hex[:8], "message": text}
        r = await c.post(
            gw.base_url + f"/api/smart-agents/{r.json()['id']}/chat", json=body, headers=_headers(key)
        )
    return Outcome(200, None, r.text) if r.status_code == 200 else _error(r)


async def _faq_extract(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    """The text uploaded as a document; its extraction job (model calls on the masked text) waited for."""
    files = {"file": ("notes.txt", text.encode(), "text/plain")}
    data = {"model": EXPLICIT_MODEL}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + "/api/faqs/extract", files=files, data=data, headers=_headers(key))
        if r.status_code != 202:
            return _error(r)
        doc = r.json()["id"]
        for _ in range(600):
            got = (await c.get(gw.base_url + f"/api/faqs/documents/{doc}", headers=_headers(key))).json()
            if got["status"] in ("done", "failed"):
                return Outcome(200, None, json.dumps(got))  # accepted: what the job made of it is its own
            await asyncio.sleep(0.05)
    return Outcome(504, "faq_extract_timeout")


Send = Callable[[GatewayServer, str | None, str, str | None], Awaitable[Outcome]]

# The matrix's rules. A door takes all of them unless it says otherwise: transcription has no chat turn
# (no text of the client's reaches a chat model, nothing to audit for injection) and no sessions.
RULES = frozenset({"secret", "injection", "budget", "rate_limit", "no_key", "session"})
AUDIO_RULES = frozenset({"budget", "rate_limit", "no_key"})
TELEGRAM_RULES = (RULES - {"session"}) | {"per_chat_session"}


@dataclass(frozen=True)
class Door:
    name: str
    # The app routes (method, path) this door stands for.
    routes: tuple[tuple[str, str], ...]
    send: Send
    # The door's name in work orders and audit entries.
    caller_door: str
    rules: frozenset[str] = RULES

    def __str__(self) -> str:
        return self.name


def _openai_door(name: str, *, model: str, stream: bool, parts: bool) -> Door:
    async def send(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
        return await _openai(gw, key, text, session, model=model, stream=stream, parts=parts)

    return Door(name, (("POST", "/v1/chat/completions"),), send, "openai")


DOORS: tuple[Door, ...] = (
    _openai_door("openai-explicit", model=EXPLICIT_MODEL, stream=False, parts=False),
    _openai_door("openai-explicit-stream-parts", model=EXPLICIT_MODEL, stream=True, parts=True),
    _openai_door("openai-auto", model="nexus-auto", stream=False, parts=False),
    _openai_door("openai-auto-stream", model="nexus-auto", stream=True, parts=True),
    Door("chat", (("POST", "/chat"),), _chat, "chat"),
    Door("resume", (("POST", "/resume"),), _resume, "resume"),
    Door("ws-chat", (("WEBSOCKET", "/ws/chat"),), _ws, "ws"),
    Door("api-chat", (("POST", "/api/chat"),), _api_chat, "api_chat"),
    Door("work-order", (("POST", "/api/work-orders"),), _work_order, "work_order"),
    Door("telegram", (("POST", "/telegram/{hook_path:path}"),), _telegram_door, "telegram", TELEGRAM_RULES),
    # No sessions: each comparison is two fresh turns.
    Door("compare", (("POST", "/api/compare"),), _compare, "compare", RULES - {"session"}),
    # A smart agent's session is its own conversation (tests/faq walks its tenancy).
    Door(
        "smart-agent",
        (("POST", "/api/smart-agents/{agent_id}/chat"),),
        _smart_agent,
        "smart_agent",
        RULES - {"session"},
    ),
    Door("faq-extract", (("POST", "/api/faqs/extract"),), _faq_extract, "faq_extract", RULES - {"session"}),
)


# -- the voice doors -------------------------------------------------------------------------------
# What a voice door's driver is saying now: the matrix's fake transcription upstream "hears" it
# (FakeOpenAI.hear), so a rule about the transcript's chat turn sees exactly the test's text. The audio
# itself is espeak-ng speech of a short phrase (one utterance, whatever the text).
SPOKEN: dict[str, str] = {"text": ""}
CARRIER = "hello there"


def heard(_audio: bytes) -> str:
    return SPOKEN["text"]


async def _transcription(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    from tests.voice.audio import say_wav

    SPOKEN["text"] = text
    files = {"file": ("speech.wav", say_wav(CARRIER), "audio/wav")}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(
            gw.base_url + "/v1/audio/transcriptions",
            files=files,
            data={"model": "whisper"},
            headers=_headers(key),
        )
    return Outcome(200, None, r.text) if r.status_code == 200 else _error(r)


async def _ws_voice(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    """Speech frames to /ws/voice, as fast as the socket takes them; the outcome is the answer's final
    event, or the first error event with a status."""
    from tests.voice.audio import say, silence

    SPOKEN["text"] = text
    url = gw.base_url.replace("http://", "ws://") + "/ws/voice"
    seen: list[dict[str, Any]] = []
    async with websockets.connect(url, additional_headers=_headers(key), open_timeout=30) as ws:
        try:
            start = {
                "type": "start",
                "transcriber": "whisper",
                **({"session_id": session} if session else {}),
            }
            await ws.send(json.dumps(start))
            pcm = silence(200) + say(CARRIER) + silence(900)
            for i in range(0, len(pcm), 3200):
                await ws.send(pcm[i : i + 3200])
        except websockets.ConnectionClosed:
            pass  # refused: its error message is still there to read
        while True:
            try:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
            except websockets.ConnectionClosed:
                break
            seen.append(msg)
            if msg["type"] == "error" and msg["data"].get("status"):
                return Outcome(int(msg["data"]["status"]), msg["data"].get("code"), json.dumps(seen))
            if msg["type"] == "final":
                break
    return Outcome(200, None, json.dumps(seen))


VOICE_DOORS: tuple[Door, ...] = (
    Door(
        "audio-transcription", (("POST", "/v1/audio/transcriptions"),), _transcription, "audio", AUDIO_RULES
    ),
    Door("ws-voice", (("WEBSOCKET", "/ws/voice"),), _ws_voice, "voice"),
)
DOORS = DOORS + VOICE_DOORS
