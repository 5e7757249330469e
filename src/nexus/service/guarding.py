"""The guard as every door meets it: user input before any model sees it, answers before any client does.

Input: every message and every text content part, with the full layer set (injection included).
Secrets and personal data are masked in the copy sent upstream; a flagged finding (an injection
attempt, a policy topic) lets the turn go on, marked critical so the judge reviews the answer; a
block ends it. Every decision is audited for the caller's tenant with its category, kind and door,
never the matched text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus.guard import Action, GuardBlocked, GuardConfig, GuardContext, GuardPipeline, StreamGuard, Verdict
from nexus.providers.types import ChatMessage, ChatRequest
from nexus.service.identity import Caller
from nexus.store import AccountingQueue

OUTPUT_LAYERS = [["policy"], ["secrets", "pii"]]
# Roles whose text may carry an injection attempt; every role's text is masked.
_UNTRUSTED = ("user", "tool", "function")


@dataclass(slots=True)
class GuardDecision:
    action: str  # mask | flag | block
    category: str
    kind: str
    risk: str
    message: int  # index in the request's messages

    def public(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "category": self.category,
            "kind": self.kind,
            "risk": self.risk,
            "message": self.message,
        }


@dataclass(slots=True)
class GuardOutcome:
    request: ChatRequest
    decisions: list[GuardDecision] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return any(d.action == "flag" for d in self.decisions)

    @property
    def categories(self) -> list[str]:
        return sorted({d.category for d in self.decisions})


_NAMES = {Action.redact: "mask", Action.escalate: "flag", Action.block: "block"}


def _decisions(verdict: Verdict, config: GuardConfig, index: int) -> list[GuardDecision]:
    out = []
    for f in verdict.findings:
        action = config.action_for(f.category, f.risk)
        if action is not Action.allow:
            out.append(
                GuardDecision(_NAMES.get(action, str(action)), f.category, f.kind, f.risk.value, index)
            )
    return out


class RequestGuard:
    def __init__(self, config: GuardConfig | None = None, audit: AccountingQueue | None = None) -> None:
        self.config = config or GuardConfig()
        self.full = GuardPipeline(self.config)
        # Answers are checked for what must not leak (secrets, personal data, policy topics), not injection.
        self.output = GuardPipeline(self.config.model_copy(update={"layers": OUTPUT_LAYERS}))
        self.audit = audit

    @classmethod
    def from_file(cls, path: Path | None, audit: AccountingQueue | None = None) -> RequestGuard:
        return cls(GuardConfig.from_yaml(path) if path else None, audit)

    def _check_text(
        self, text: str, role: str, ctx: GuardContext, index: int
    ) -> tuple[str | None, list[GuardDecision]]:
        verdict = self.full.check(text, ctx)
        if verdict.action is Action.allow:
            return None, []
        decisions = _decisions(verdict, self.config, index)
        if role not in _UNTRUSTED:
            # Only masking applies to trusted text (system prompts, the assistant's earlier turns).
            decisions = [d for d in decisions if d.action == "mask"]
        if any(d.action == "block" for d in decisions):
            raise _Blocked(decisions)
        return verdict.redacted_text, decisions

    def check_request(self, caller: Caller, body: ChatRequest) -> GuardOutcome:
        """Mask, flag or block the request's text; raises GuardBlocked (audited) on block."""
        ctx = GuardContext(tenant=caller.tenant, model=body.model, direction="input")
        decisions: list[GuardDecision] = []
        messages: list[ChatMessage] | None = None
        try:
            for i, m in enumerate(body.messages):
                content = m.content
                if isinstance(content, str):
                    if not content:
                        continue
                    new, found = self._check_text(content, m.role, ctx, i)
                    decisions += found
                    if new is not None and new != content:
                        messages = messages or list(body.messages)
                        messages[i] = m.model_copy(update={"content": new})
                elif isinstance(content, list):
                    parts, changed = [], False
                    for part in content:
                        text = (
                            part.get("text")
                            if isinstance(part, dict) and part.get("type") == "text"
                            else None
                        )
                        if isinstance(text, str) and text:
                            new, found = self._check_text(text, m.role, ctx, i)
                            decisions += found
                            if new is not None and new != text:
                                part, changed = {**part, "text": new}, True
                        parts.append(part)
                    if changed:
                        messages = messages or list(body.messages)
                        messages[i] = m.model_copy(update={"content": parts})
        except _Blocked as blocked:
            self._audit(caller, decisions + blocked.decisions, "block")
            raise GuardBlocked(sorted({d.category for d in blocked.decisions}), "input") from None
        if decisions:
            self._audit(caller, decisions, "flag" if any(d.action == "flag" for d in decisions) else "mask")
        if messages is not None:
            body = body.model_copy(update={"messages": messages})
        return GuardOutcome(body, decisions)

    def _audit(self, caller: Caller, decisions: list[GuardDecision], status: str) -> None:
        if self.audit is None or not decisions:
            return
        self.audit.audit_soon(
            action="guard.input",
            tenant_id=caller.tenant,
            actor=caller.principal.subject,
            target=caller.door,
            status=status,
            details={
                "door": caller.door,
                "request_id": caller.request_id,
                "categories": sorted({d.category for d in decisions}),
                "decisions": [d.public() for d in decisions],
            },
        )

    # -- output ---------------------------------------------------------------------------------------
    def check_answer(self, text: str, tenant: str) -> str:
        verdict = self.output.check(text, GuardContext(tenant=tenant, direction="output"))
        if verdict.blocked:
            raise GuardBlocked(verdict.categories, "output")
        return verdict.redacted_text if verdict.redacted_text is not None else text

    def mask(self, text: str) -> str:
        """Secrets and personal data masked (for an answer QA flagged); never raises."""
        verdict = self.output.check(text, GuardContext(direction="output"))
        return verdict.redacted_text if verdict.redacted_text is not None else text

    def stream(self, tenant: str) -> StreamGuard:
        return StreamGuard(self.output, GuardContext(tenant=tenant, direction="output"))


class _Blocked(Exception):
    def __init__(self, decisions: list[GuardDecision]) -> None:
        self.decisions = decisions
