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


# -- /rag-chat: a grounded answer from a vector store of the key's tenant ------------------------------
# The store is set up once per tenant through the service (not the door under test, so it takes none of
# the key's rate limit or budget); its document shares words with the matrix's texts so the model is
# called. No key: a store id that does not matter (the gate refuses first).
RAG_DOC = (
    b"# Operations notes\n\nTo deploy the service, write the deploy script and keep keys out of it.\n\n"
    b"A haiku about the sea or the sky has three lines. Instructions and prompts are reviewed.\n"
)
_rag_stores: dict[str, str] = {}


async def _rag_store(gw: GatewayServer, key: str) -> str:
    from nexus.store import TenantScope

    async def setup() -> str:
        principal = await gw.services.auth.authenticate(key)
        scope = TenantScope(principal.tenant_id)
        if principal.tenant_id not in _rag_stores:
            rag = gw.services.documents.rag
            store = await rag.create_collection(scope, "matrix")
            await rag.add_file(scope, store.id, RAG_DOC, "ops.md")
            await rag.wait_for_files(scope, store.id, timeout_s=60)
            _rag_stores[principal.tenant_id] = store.id
        return _rag_stores[principal.tenant_id]

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(setup(), gw.state.loop))


async def _rag_chat(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    store = await _rag_store(gw, key) if key is not None else "vs_none"
    body = {"question": text, "vector_store_ids": [store], "model": EXPLICIT_MODEL}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + "/rag-chat", json=body, headers=_headers(key))
    if r.status_code != 200:
        return _error(r)
    errors = [json.loads(ln[6:]) for ln in r.text.splitlines() if ln.startswith('data: {"type":"error"')]
    if errors:
        return Outcome(int(errors[0].get("status") or 500), errors[0].get("code"), r.text)
    return Outcome(200, None, r.text)


async def _openai_grounded(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    """nexus-auto grounded in the tenant's vector store (extra_body `vector_store_ids`)."""
    store = await _rag_store(gw, key) if key is not None else "vs_none"
    body = {
        "model": "nexus-auto",
        "messages": [{"role": "user", "content": text}],
        "vector_store_ids": [store],
    }
    headers = _headers(key, **({"x_nexus_session": session} if session else {}))
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + "/v1/chat/completions", json=body, headers=headers)
    return Outcome(200, None, r.text) if r.status_code == 200 else _error(r)


# -- agents: a tenant's own agent (created in-process for the key's tenant, as the API's owner would),
# run over POST /api/agents/{name}/runs; its model is `nexus-auto` (the catalogue's default role).
MATRIX_AGENT = "matrix-agent"
_agent_tenants: set[str] = set()


async def _own_agent(gw: GatewayServer, key: str) -> None:
    from nexus.agents import AgentCaller, AgentEntry

    async def create() -> None:
        principal = await gw.services.auth.authenticate(key)
        if principal.tenant_id in _agent_tenants:
            return
        spec = AgentEntry(name=MATRIX_AGENT, model="nexus-auto", tools=["calculator"])
        await gw.services.agents.library.create_agent(AgentCaller(tenant=principal.tenant_id), spec)
        _agent_tenants.add(principal.tenant_id)

    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(create(), gw.state.loop))


async def _agent_run(
    gw: GatewayServer, key: str | None, text: str, session: str | None, *, stream: bool
) -> Outcome:
    if key is not None:
        await _own_agent(gw, key)
    body = {"input": text, "stream": stream, **({"session_id": session} if session else {})}
    async with httpx.AsyncClient(timeout=60) as c:
        r = await c.post(gw.base_url + f"/api/agents/{MATRIX_AGENT}/runs", json=body, headers=_headers(key))
    if r.status_code != 200:
        return _error(r)
    if stream:
        datas = [json.loads(ln[6:]) for ln in r.text.splitlines() if ln.startswith("data: ")]
        status = datas[-1]["data"]["status"] if datas else "none"
    else:
        status = r.json()["status"]
    return Outcome(200 if status == "completed" else 500, None if status == "completed" else status, r.text)


async def _agent_sse(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    return await _agent_run(gw, key, text, session, stream=True)


async def _agent_json(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    return await _agent_run(gw, key, text, session, stream=False)


def _openai_agent_door(name: str, *, stream: bool) -> Door:
    """The OpenAI door with `model: "agent:<name>"`: the tenant's agent's run as a chat completion."""

    async def send(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
        if key is not None:
            await _own_agent(gw, key)
        model = "agent:" + MATRIX_AGENT
        return await _openai(gw, key, text, session, model=model, stream=stream, parts=stream)

    return Door(name, (("POST", "/v1/chat/completions"),), send, "openai")


# -- MCP: the `chat` tool of Nexus's own MCP server (/mcp), called with the `mcp` client package. A
# refused turn is a tool error whose text ends "(error STATUS CODE)"; a missing key is the HTTP 401.
async def _mcp_chat(gw: GatewayServer, key: str | None, text: str, session: str | None) -> Outcome:
    import re

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    url = gw.base_url + "/mcp"
    if key is None:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        async with httpx.AsyncClient(timeout=60) as c:
            r = await c.post(url, json=body, headers={"accept": "application/json, text/event-stream"})
        return _error(r)
    args = {"message": text, **({"session_id": session} if session else {})}
    async with (
        httpx2.AsyncClient(headers=_headers(key), timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool("chat", args)
    answer = "\n".join(getattr(part, "text", "") for part in result.content)
    if not result.is_error:
        return Outcome(200, None, answer)
    told = re.search(r"\(error (\d{3}) ([a-z_]+)\)$", answer)
    return Outcome(int(told.group(1)), told.group(2), answer) if told else Outcome(500, None, answer)


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
    # No sessions: each question is its own grounded turn.
    Door("rag-chat", (("POST", "/rag-chat"),), _rag_chat, "rag_chat", RULES - {"session"}),
    Door("openai-auto-grounded", (("POST", "/v1/chat/completions"),), _openai_grounded, "openai"),
    Door("agent-run-stream", (("POST", "/api/agents/{name}/runs"),), _agent_sse, "agents"),
    Door("agent-run", (("POST", "/api/agents/{name}/runs"),), _agent_json, "agents"),
    Door("mcp-chat", (("POST", "/mcp"),), _mcp_chat, "mcp"),
    _openai_agent_door("openai-agent", stream=False),
    _openai_agent_door("openai-agent-stream", stream=True),
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
