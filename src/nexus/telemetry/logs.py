"""Structured logs: one JSON object per line (orjson), with the request's correlation id and tenant.

`setup_logging` installs one handler on the root logger (idempotent), with the redacting filter, and
routes uvicorn's loggers through it; the gateway middleware writes the access log, so uvicorn's own
access lines are silenced.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from nexus.config.settings import Settings
from nexus.telemetry.context import request_id_var, tenant_var
from nexus.telemetry.redact import RedactingFilter, Redactor, extra_fields

_HANDLER_MARK = "_nexus_handler"


class _PromptSwitch:
    # Set once by setup_logging from settings.log_prompts (NEXUS_LOG_PROMPTS=1); off by default.
    enabled = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            # orjson writes the datetime itself (ISO 8601, UTC offset), faster than isoformat().
            "ts": datetime.fromtimestamp(record.created, UTC),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "tenant": tenant_var.get(),
        }
        out.update(extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """For NEXUS_LOG_JSON=0: a human line that still carries the correlation id."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = request_id_var.get() or "-"
        return super().format(record)


def setup_logging(
    settings: Settings, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Configure the root logger once; call again to replace the handler (e.g. new secrets)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if settings.log_json else TextFormatter())
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    _PromptSwitch.enabled = settings.log_prompts
    return handler


def prompts_enabled() -> bool:
    return _PromptSwitch.enabled


def log_prompt(logger: logging.Logger, text: str, **extra: Any) -> None:
    """Log a prompt or answer text, only when NEXUS_LOG_PROMPTS=1; a no-op otherwise."""
    if _PromptSwitch.enabled:
        logger.info("prompt", extra={"prompt": text, **extra})
