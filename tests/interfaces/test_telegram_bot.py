"""The bot through the fake Bot API and the gateway's webhook: commands, turns, HITL, photos, voice,
refusals. The real gateway (auth on), the real service layer and pipeline, fake upstreams."""

from __future__ import annotations

import base64

import httpx
from tests.interfaces.telegram_env import ADMIN, GLOBEX, MEMBER, SECRET, TelegramEnv

from nexus.interfaces.telegram.bot import COMMANDS
from nexus.interfaces.telegram.replies import error_tag
from nexus.interfaces.telegram.voice import VOICE_NOT_CONFIGURED
from nexus.store import TenantScope
from nexus.testing import Reply
from nexus.testing.markdown_v2 import parse

from .test_telegram_markdown import long_answer


def _hook(tenv: TelegramEnv) -> str:
    return tenv.gw.base_url + tenv.settings.telegram_webhook_path


def test_the_bot_published_its_commands(tenv: TelegramEnv) -> None:
    assert [c["command"] for c in tenv.tg.commands] == [name for name, _ in COMMANDS]
    assert tenv.tg.webhook is not None and tenv.tg.webhook["secret_token"] == SECRET


def test_start_and_help_list_every_command(tenv: TelegramEnv) -> None:
    start = tenv.say(MEMBER, "/start")[0].plain
    assert "acme" in start
    help_text = tenv.say(MEMBER, "/help")[0].plain
    for name, _ in COMMANDS:
        assert f"/{name}" in start and f"/{name}" in help_text
    assert "do not know" in tenv.say(MEMBER, "/nonsense")[0].plain


def test_a_text_message_is_a_turn_through_the_service(tenv: TelegramEnv) -> None:
    tenv.fakes["general"].push(Reply(text="The capital of France is **Paris**."))
    tenv.fakes["coder"].push(Reply(text="The capital of France is **Paris**."))
    reply = tenv.say(ADMIN, "/model general")[0]
    assert "general" in reply.plain and "pinned" in reply.plain
    answer = tenv.say(ADMIN, "What is the capital of France?")[0]
    assert answer.plain == "The capital of France is Paris."
    assert {"type": "bold", "offset": 25, "length": 5} in answer.entities
    assert tenv.fakes["general"].requests, "the pinned model answered"
    tenv.flush()
    orders = tenv.gw.call(tenv.gw.services.store.work_orders(TenantScope("acme")).list(limit=5))
    assert orders[0].door == "telegram" and orders[0].model_requested == "general"
    assert orders[0].api_key_id == f"tg:{ADMIN}"  # the user is its own rate-limit and budget subject
    assert "auto" in tenv.say(ADMIN, "/model auto")[0].plain


def test_a_10000_character_answer_arrives_as_valid_parts(tenv: TelegramEnv) -> None:
    text = long_answer()
    tenv.say(MEMBER, "/model general")
    tenv.fakes["general"].push(Reply(text=text))
    before = len(tenv.tg.messages(MEMBER))
    tenv.tg.user_says(MEMBER, "Write the long report")
    sent = tenv.tg.wait_messages(MEMBER, 3, after=before)[before:]
    # The fake Bot API refused nothing: each part parsed as MarkdownV2 within Telegram's limit.
    for m in sent:
        assert m.parse_mode == "MarkdownV2" and len(m.text) <= 4096
        parse(m.text)
    visible = "\n".join(m.plain for m in sent)
    assert all(line in visible for line in text.splitlines() if line.startswith("def f"))
    tenv.say(MEMBER, "/model auto")


def test_a_paused_runs_question_arrives_and_the_next_message_answers_it(tenv: TelegramEnv) -> None:
    chat = 77001
    question = tenv.say(MEMBER, "fix it", chat=chat)[0]
    assert question.plain.startswith("❓") and question.plain.endswith("(Reply to continue.)")
    tenv.fakes["coder"].push(Reply(text="Add a null check before calling submit()."))
    tenv.fakes["general"].push(Reply(text="Add a null check before calling submit()."))
    answer = tenv.say(MEMBER, "the login form crashes when the password is empty", chat=chat)[0]
    assert not answer.plain.startswith("❓")
    sent = "\n".join(r.body.decode() for f in tenv.fakes.values() for r in f.requests)
    assert "password is empty" in sent  # the reply reached the resumed run
    tenv.flush()
    session = tenv.gw.call(_chat_session(tenv, chat))
    orders = tenv.gw.call(tenv.gw.services.store.work_orders(TenantScope("acme")).list(limit=50))
    runs = [o for o in orders if o.session_id == session and o.route == "pipeline"]
    # One run: the paused one, resumed by the reply and finished (not a second, new run).
    assert [(o.door, o.status) for o in runs] == [("telegram", "done")], runs
    # /new starts a fresh session: the same chat's next turn is not the old one.
    assert "new conversation" in tenv.say(MEMBER, "/new", chat=chat)[0].plain
    assert tenv.gw.call(_chat_session(tenv, chat)) != session


async def _chat_session(tenv: TelegramEnv, chat: int) -> str | None:
    from nexus.store.repos.ops import TelegramChats

    row = await TelegramChats(tenv.gw.services.store.sessions, TenantScope("acme")).state(chat)
    return row.session_id if row else None


def test_status_cost_and_audit(tenv: TelegramEnv) -> None:
    status = tenv.say(MEMBER, "/status")[0].plain
    assert "database" in status and "models:" in status and "heartbeat" in status
    cost = tenv.say(MEMBER, "/cost")[0].plain
    assert "today: $" in cost and "this month: $" in cost
    refused = tenv.say(MEMBER, "/audit")[0].plain
    assert error_tag(refused) == (403, "forbidden")
    audit = tenv.say(ADMIN, "/audit")[0].plain
    assert "Audit log of acme" in audit


def test_escalate_reruns_the_last_request_on_the_escalation_model(tenv: TelegramEnv) -> None:
    chat = 77002
    tenv.say(ADMIN, "/model general", chat=chat)
    tenv.say(ADMIN, "Summarise the quarterly numbers", chat=chat)
    tenv.fakes["senior"].push(Reply(text="A senior answer."))
    got = tenv.say(ADMIN, "/escalate", chat=chat, n=2)
    assert "senior" in got[0].plain and got[1].plain == "A senior answer."
    assert "Summarise the quarterly numbers" in tenv.fakes["senior"].last_request.body.decode()
    assert (
        "no earlier request" in tenv.say(GLOBEX, "/escalate", chat=chat)[0].plain
    )  # another tenant's chat state


def test_unknown_models_and_users_are_refused_and_users_audited(tenv: TelegramEnv) -> None:
    assert error_tag(tenv.say(MEMBER, "/model no-such-model")[0].plain) == (404, "model_not_found")
    stranger = 555_001
    refusal = tenv.say(stranger, "hello, let me in")[0].plain
    assert "private" in refusal and error_tag(refusal) == (401, "not_allowed")
    assert not any(f.requests for f in tenv.fakes.values())
    tenv.flush()
    rows = tenv.gw.call(tenv.gw.services.store.audit(TenantScope.system()).list(action="telegram.refused"))
    mine = [r for r in rows if r.actor == f"tg:{stranger}"]
    assert mine and mine[0].status == "denied" and "let me in" not in str(mine[0].details)


def test_a_photo_goes_to_a_vision_model(tenv: TelegramEnv) -> None:
    image = b"\xff\xd8\xff\xe0fake-jpeg-bytes" * 20
    for f in tenv.fakes.values():
        f.push(Reply(text="A cat on a keyboard."))
    before = len(tenv.tg.messages(ADMIN))
    tenv.tg.user_sends_photo(ADMIN, image, caption="What is in this picture?")
    tenv.tg.wait_messages(ADMIN, 1, after=before)
    encoded = base64.b64encode(image).decode()
    to_vision = [r for r in tenv.fakes["general"].requests if encoded in r.body.decode()]
    assert to_vision, "the image reached the vision-capable model"
    others = [
        m
        for m in tenv.fakes
        if m != "general" and any(encoded in r.body.decode() for r in tenv.fakes[m].requests)
    ]
    assert all(m in ("cheap", "judge", "agg", "senior") for m in others), others  # never a text-only worker


def test_voice_without_a_transcriber_says_so(tenv: TelegramEnv) -> None:
    before = len(tenv.tg.messages(MEMBER))
    tenv.tg.user_sends_voice(MEMBER, b"OggS-fake-audio")
    assert tenv.tg.wait_messages(MEMBER, 1, after=before)[-1].plain == VOICE_NOT_CONFIGURED


def test_the_webhook_checks_telegrams_secret_token(tenv: TelegramEnv) -> None:
    update = {
        "update_id": 990001,
        "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "hi"},
    }
    wrong = httpx.post(_hook(tenv), json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    assert httpx.post(_hook(tenv), json=update).status_code == 403
    other = tenv.gw.base_url + "/telegram/not-the-hook"
    assert (
        httpx.post(other, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code == 404
    )
    bad = httpx.post(_hook(tenv), content=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert bad.status_code == 400
    # Telegram redelivers an update it thinks was lost: handled once.
    ok = {
        "update_id": 990002,
        "message": {
            **update["message"],
            "from": {"id": MEMBER, "is_bot": False, "first_name": "M"},
            "chat": {"id": 88001, "type": "private"},
            "text": "/help",
        },
    }
    ok["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": 5}]
    for _ in range(2):
        r = httpx.post(_hook(tenv), json=ok, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert r.status_code == 200
    assert len(tenv.tg.messages(88001)) == 1
