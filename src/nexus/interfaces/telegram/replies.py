"""What the bot says when it refuses or fails: one readable sentence, then the status and code the
same refusal has on the HTTP doors (so a user can report it, and tests can map it back)."""

from __future__ import annotations

import re

from nexus.service.errors import ServiceError

NOT_ALLOWED = "Sorry, this is a private Nexus bot and you are not on its list of users."
_FRIENDLY = {
    "rate_limit_exceeded": "You are sending messages faster than your limit allows; please wait a minute.",
    "budget_exceeded": "Your team's budget for this period is used up.",
    "guard_blocked": "Your message was blocked by the content guard.",
    "session_not_found": "This conversation belongs to someone else; send /new to start your own.",
    "not_paused": "There is no open question to answer; your message starts a new request.",
    "unsupported_capability": "No configured model can read this kind of message.",
    "model_not_found": "That model does not exist; /model lists the choices.",
    "model_unavailable": "That model is not available right now.",
    "upstream_timeout": "The model took too long to answer; please try again.",
    "upstream_error": "The model's provider failed; please try again.",
    "pipeline_failed": "The request failed inside Nexus; please try again.",
}
_TAG = re.compile(r"\(error (\d{3}) ([a-z_]+)\)\s*$")


def refusal(status: int, code: str | None, message: str = "") -> str:
    """A refusal in Markdown for the renderer: the sentence, the service's message, the error tag."""
    friendly = _FRIENDLY.get(code or "", "")
    detail = message if message and message != friendly else ""
    lines = [f"⚠️ {friendly or message or 'The request failed.'}"]
    if detail and friendly:
        lines.append(detail)
    lines.append(f"(error {status} {code or 'error'})")
    return "\n".join(lines)


def refusal_of(exc: ServiceError) -> str:
    return refusal(exc.status, exc.code, exc.message)


def not_allowed() -> str:
    return refusal(401, "not_allowed", NOT_ALLOWED)


def error_tag(text: str) -> tuple[int, str] | None:
    """(status, code) of a refusal's plain text, for clients and tests that map refusals back."""
    m = _TAG.search(text.strip())
    return (int(m.group(1)), m.group(2)) if m else None
