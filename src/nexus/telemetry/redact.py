"""Masking of credentials in log records: key shapes, auth headers and the configured secret values.

It runs as a handler filter, so every record that reaches Nexus's log output is masked, whichever
logger emitted it. Literal secrets come from the environment variables the catalogue names
(`catalogue_secrets`); shapes catch keys that were never configured (e.g. a client's own key).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from nexus.config.catalogue import Catalogue
from nexus.config.settings import Settings

MASK = "***"
# Shorter configured values are ignored: masking a 3-letter "secret" would shred ordinary text.
MIN_SECRET_LEN = 8

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE), r"\1 " + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), "sk-" + MASK),
    (
        re.compile(
            r"""\b(x-api-key|x-goog-api-key|api[_-]?key|access[_-]?token)(["']?\s*[:=]\s*["']?)[^\s"',;&]+""",
            re.I,
        ),
        r"\1\2" + MASK,
    ),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"), MASK),
)
# Every shape above starts with one of these; a text without any needs no substitution pass.
_TRIGGER = re.compile(r"sk-|bearer|basic|api[_-]?key|access[_-]?token|AIza", re.IGNORECASE)
# Extras under these names are masked whole, whatever their shape.
_SENSITIVE_KEY = re.compile(r"(?i)(api[_-]?key|authorization|passw|secret|cookie|credential|^token$|_token$)")
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def catalogue_secrets(catalogue: Catalogue, settings: Settings) -> list[str]:
    """The credential values of every catalogue entry (from api_key_env), plus the JWT secret."""
    values = [settings.secret(m.api_key_env) for m in catalogue.models if m.api_key_env]
    values.append(settings.jwt_secret)
    return [v for v in values if v]


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        literal = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        self._literal = re.compile("|".join(map(re.escape, literal))) if literal else None

    def redact(self, text: str) -> str:
        # One cheap search first: almost every log line holds nothing to mask.
        literal = self._literal
        hit_literal = literal is not None and literal.search(text) is not None
        if not hit_literal and _TRIGGER.search(text) is None:
            return text
        if hit_literal and literal is not None:
            text = literal.sub(MASK, text)
        for pattern, repl in _SHAPES:
            text = pattern.sub(repl, text)
        return text

    def redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_field(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value

    def redact_field(self, name: str, value: Any) -> Any:
        if value and _SENSITIVE_KEY.search(name) and isinstance(value, str | bytes):
            return MASK
        return self.redact_value(value)


class RedactingFilter(logging.Filter):
    """Masks the message, its arguments, every extra and the traceback text of each record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._tb = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        r = self.redactor
        if record.args:
            record.msg = r.redact(record.getMessage())
            record.args = None
        elif isinstance(record.msg, str):
            record.msg = r.redact(record.msg)
        else:
            record.msg = r.redact(str(record.msg))
        attrs = record.__dict__
        for name in [k for k in attrs if k not in _RECORD_ATTRS]:
            attrs[name] = r.redact_field(name, attrs[name])
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tb.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = r.redact(record.exc_text)
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record (what is not a standard LogRecord attribute)."""
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}
