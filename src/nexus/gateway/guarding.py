"""Guards at the gateway's edge: user input before any model sees it, answers before the client does.

The explicit-model fast path runs the cheap layers (policy, secrets, PII: tens of µs) on input; the
routed pipeline runs every layer, injection heuristics included, and an `escalate` verdict marks the
run critical. Output checks run on whole answers and, through StreamGuard, on streams.
"""

from __future__ import annotations

from pathlib import Path

from nexus.guard import Action, GuardBlocked, GuardConfig, GuardContext, GuardPipeline, StreamGuard, Verdict
from nexus.providers.types import ChatMessage, ChatRequest

FAST_LAYERS = [["policy"], ["secrets", "pii"]]


class GatewayGuard:
    def __init__(self, config: GuardConfig | None = None) -> None:
        cfg = config or GuardConfig()
        self.full = GuardPipeline(cfg)
        self.fast = GuardPipeline(cfg.model_copy(update={"layers": FAST_LAYERS}))
        self.output = self.fast

    @classmethod
    def from_file(cls, path: Path | None) -> GatewayGuard:
        return cls(GuardConfig.from_yaml(path) if path else None)

    def check_request(
        self, body: ChatRequest, tenant: str, *, full: bool
    ) -> tuple[ChatRequest, Verdict | None]:
        """Check the user-authored messages; redact in place (on a copy) or raise GuardBlocked.

        Returns the request to send on and the worst verdict (None when nothing was found)."""
        pipeline = self.full if full else self.fast
        ctx = GuardContext(tenant=tenant, model=body.model, direction="input")
        worst: Verdict | None = None
        messages: list[ChatMessage] | None = None
        for i, m in enumerate(body.messages):
            if m.role not in ("user", "tool") or not isinstance(m.content, str) or not m.content:
                continue
            verdict = pipeline.check(m.content, ctx)
            if verdict.action == Action.allow:
                continue
            if verdict.blocked:
                raise GuardBlocked(verdict.categories, "input")
            if verdict.action == Action.redact and verdict.redacted_text is not None:
                messages = messages or list(body.messages)
                messages[i] = m.model_copy(update={"content": verdict.redacted_text})
            if worst is None or _rank(verdict.action) > _rank(worst.action):
                worst = verdict
        if messages is not None:
            body = body.model_copy(update={"messages": messages})
        return body, worst

    def check_answer(self, text: str, tenant: str) -> str:
        verdict = self.output.check(text, GuardContext(tenant=tenant, direction="output"))
        if verdict.blocked:
            raise GuardBlocked(verdict.categories, "output")
        if verdict.action == Action.redact and verdict.redacted_text is not None:
            return verdict.redacted_text
        return text

    def stream(self, tenant: str) -> StreamGuard:
        return StreamGuard(self.output, GuardContext(tenant=tenant, direction="output"))


_ORDER = {Action.allow: 0, Action.redact: 1, Action.escalate: 2, Action.block: 3}


def _rank(action: Action) -> int:
    return _ORDER.get(action, 0)
