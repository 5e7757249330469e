"""Alerts: one message when a check starts failing (an incident), at most one reminder per cooldown
while it keeps failing (sooner if it gets worse), and one recovery message when it passes again.

Sinks: the log (always), a webhook (JSON with a `text` field, which Slack-style receivers take), and
Telegram chats. A sink that fails is logged and skipped: alerting never stops the heartbeat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from nexus.ops.types import SEVERITY, CheckResult

log = logging.getLogger("nexus.ops.alerts")

Kind = Literal["alert", "reminder", "recovery"]
ICON = {"warning": "🟡", "critical": "🔴", "ok": "🟢", "skipped": "⚪"}


@dataclass(frozen=True, slots=True)
class Alert:
    kind: Kind
    check: str
    state: str
    detail: str
    since: float  # when the incident began (the alerter's clock)

    @property
    def text(self) -> str:
        if self.kind == "recovery":
            return f"{ICON['ok']} RECOVERED {self.check}: {self.detail}"
        word = "STILL FAILING" if self.kind == "reminder" else self.state.upper()
        return f"{ICON.get(self.state, '')} {word} {self.check}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "text": f"Nexus heartbeat: {self.text}",
            "kind": self.kind,
            "check": self.check,
            "state": self.state,
            "detail": self.detail,
        }


class AlertSink(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...


class LogSink:
    name = "log"

    async def send(self, alert: Alert) -> None:
        level = logging.ERROR if alert.state == "critical" and alert.kind != "recovery" else logging.WARNING
        log.log(level, alert.text, extra={"check": alert.check, "state": alert.state, "kind": alert.kind})


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    async def send(self, alert: Alert) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            r = await client.post(self.url, json=alert.as_json())
            r.raise_for_status()


class TelegramSink:
    """Alerts as Telegram messages to the configured chats (NEXUS_HEARTBEAT_ALERT_CHATS)."""

    name = "telegram"

    def __init__(self, token: str, base_url: str, chat_ids: Sequence[int]) -> None:
        from telegram import Bot

        from nexus.interfaces.telegram.bot import file_base_url

        self.bot = Bot(token, base_url=base_url, base_file_url=file_base_url(base_url))
        self.chat_ids = list(chat_ids)

    async def send(self, alert: Alert) -> None:
        from telegram.constants import ParseMode

        from nexus.interfaces.telegram.markdown import to_markdown_v2

        for chat_id in self.chat_ids:
            for part in to_markdown_v2(f"**Nexus heartbeat**\n{alert.text}"):
                await self.bot.send_message(chat_id, part, parse_mode=ParseMode.MARKDOWN_V2)


@dataclass
class _Incident:
    since: float
    state: str
    last_sent: float | None = None


@dataclass
class Alerter:
    sinks: list[AlertSink]
    cooldown_s: float
    clock: Callable[[], float] = time.monotonic
    _open: dict[str, _Incident] = field(default_factory=dict)
    # When each check last had an alert sent: a check flapping inside the cooldown stays quiet.
    _last_sent: dict[str, float] = field(default_factory=dict)

    def decide(self, results: Sequence[CheckResult]) -> list[Alert]:
        """The alerts these results call for (and the incident bookkeeping); sending is `observe`'s."""
        now = self.clock()
        out: list[Alert] = []
        for r in results:
            inc = self._open.get(r.name)
            if r.failing:
                if inc is None:
                    inc = self._open[r.name] = _Incident(since=now, state=r.state)
                    last = self._last_sent.get(r.name)
                    if last is None or now - last >= self.cooldown_s:
                        out.append(Alert("alert", r.name, r.state, r.detail, now))
                        inc.last_sent = now
                    continue
                worse = SEVERITY[r.state] > SEVERITY[inc.state]
                inc.state = r.state
                due = inc.last_sent is None or now - inc.last_sent >= self.cooldown_s
                if worse or due:
                    out.append(Alert("alert" if worse else "reminder", r.name, r.state, r.detail, inc.since))
                    inc.last_sent = now
            elif inc is not None and r.state != "skipped":
                del self._open[r.name]
                if inc.last_sent is not None:  # no recovery message for an incident nobody was told about
                    out.append(Alert("recovery", r.name, r.state, r.detail, inc.since))
        for a in out:
            if a.kind != "recovery":
                self._last_sent[a.check] = now
        return out

    async def observe(self, results: Sequence[CheckResult]) -> list[Alert]:
        alerts = self.decide(results)
        for alert in alerts:
            for sink in self.sinks:
                try:
                    await sink.send(alert)
                except Exception as exc:  # one broken sink must not silence the others
                    log.warning(
                        "alert sink failed",
                        extra={"sink": sink.name, "error": f"{type(exc).__name__}: {exc}"},
                    )
        return alerts

    @property
    def open_incidents(self) -> dict[str, str]:
        return {name: inc.state for name, inc in self._open.items()}
