"""FakeTelegram speaks the Bot API as python-telegram-bot expects it, and refuses what Telegram refuses."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import BadRequest, Conflict

from nexus.testing import FakeTelegram


async def test_the_fake_bot_api_answers_like_telegram() -> None:
    async with FakeTelegram() as tg:
        assert isinstance(tg, FakeTelegram)
        async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_base_url) as bot:
            me = await bot.get_me()
            assert me.username == tg.username and me.is_bot
            sent = await bot.send_message(7, "*hi* there\\!", parse_mode="MarkdownV2")
            assert sent.text == "hi there!" and sent.entities[0].type == "bold"
            edited = await bot.edit_message_text(
                "*bye*", chat_id=7, message_id=sent.message_id, parse_mode="MarkdownV2"
            )
            assert edited.text == "bye" and tg.messages(7)[0].edits == 1
            with pytest.raises(BadRequest, match="reserved"):
                await bot.send_message(7, "1.5", parse_mode="MarkdownV2")
            with pytest.raises(BadRequest, match="too long"):
                await bot.send_message(7, "x" * 4097)
            await bot.send_chat_action(7, "typing")
            assert tg.actions == [(7, "typing")]

            tg.user_says(5, "first")
            tg.user_says(5, "/second now")
            updates = await bot.get_updates(timeout=0)
            assert [u.message.text for u in updates] == ["first", "/second now"]
            assert updates[1].message.entities[0].type == "bot_command"
            later = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
            assert later == ()

            tg.user_sends_voice(5, b"OggS-1")
            voice = (await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0))[0].message.voice
            data = await (await bot.get_file(voice.file_id)).download_as_bytearray()
            assert bytes(data) == b"OggS-1"

            await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s")
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
            delivery = tg.user_says(5, "to a dead webhook")
            assert delivery is not None and delivery.status == 0  # nothing listens there
            await bot.delete_webhook()
