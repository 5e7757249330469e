"""The Telegram door (python-telegram-bot v22): see docs/telegram.md."""

from nexus.interfaces.telegram.access import AccessList, AllowListError, parse_allow_list
from nexus.interfaces.telegram.bot import TOKEN_ENV, TelegramBot, TelegramNotConfigured
from nexus.interfaces.telegram.markdown import LIMIT, to_markdown_v2
from nexus.interfaces.telegram.voice import Transcriber, TranscriptionError

__all__ = [
    "LIMIT",
    "TOKEN_ENV",
    "AccessList",
    "AllowListError",
    "TelegramBot",
    "TelegramNotConfigured",
    "Transcriber",
    "TranscriptionError",
    "parse_allow_list",
    "to_markdown_v2",
]
