"""The guard's vocabulary: risk levels, actions, findings, decisions, verdicts, and the Guard protocol."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class Risk(StrEnum):
    none = "none"
    low = "low"
    medium = "medium"
    high = "high"

    @property
    def rank(self) -> int:
        return _RISK_RANK[self]


_RISK_RANK = {Risk.none: 0, Risk.low: 1, Risk.medium: 2, Risk.high: 3}


class Action(StrEnum):
    """What a finding makes the guard do: pass the text on, mask the span, flag it (audited, still
    answered), or block the request."""

    allow = "allow"
    mask = "mask"
    flag = "flag"
    block = "block"
    # The old names, kept as aliases so YAML files and callers written for them keep working.
    redact = "mask"
    escalate = "flag"

    @classmethod
    def _missing_(cls, value: object) -> Action | None:
        return {"redact": cls.mask, "escalate": cls.flag}.get(str(value).lower())

    @property
    def rank(self) -> int:
        return _ACTION_RANK[self]


# Flag outranks mask: a request can be both masked and flagged, and the verdict names the stronger.
_ACTION_RANK = {Action.allow: 0, Action.mask: 1, Action.flag: 2, Action.block: 3}


class Finding(BaseModel):
    """One thing a check noticed. `start`/`end` index the checked text; the text itself is not kept
    here so findings can be logged, stored and returned to clients without leaking what matched."""

    check: str
    category: str
    kind: str
    risk: Risk
    start: int = 0
    end: int = 0
    score: float = 0.0
    # Replacement used when masking, e.g. "[EMAIL]" (always a marker: see nexus.guard.markers).
    label: str = ""
    # Injection: the ids of every pattern that contributed to the score.
    signals: list[str] = Field(default_factory=list)

    def public(self) -> dict[str, object]:
        return {
            "check": self.check,
            "category": self.category,
            "kind": self.kind,
            "risk": self.risk.value,
            "span": [self.start, self.end],
        }


class Decision(BaseModel):
    """What the guard did about a finding, in a form safe to audit: never the matched text.

    Findings of one text with the same category, kind, risk and action are one decision with a
    `count` (a log with 300 e-mail addresses is one audit entry, not 300). `message`/`part` locate
    it in a chat request (index into `messages`, index into a list content; `part` is None for
    string content, and -1-k for the k-th tool call's arguments)."""

    model_config = ConfigDict(frozen=True)

    category: str
    kind: str
    risk: Risk
    action: Action
    check: str
    direction: str = "input"
    score: float = 0.0
    door: str | None = None
    role: str | None = None
    message: int | None = None
    part: int | None = None
    count: int = 1

    def public(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)


class GuardContext(BaseModel):
    """Who is asking, where from, and where the text sits (input prompt or model output)."""

    tenant: str | None = None
    model: str | None = None
    direction: str = "input"  # "input" | "output"
    door: str | None = None
    role: str | None = None


class Verdict(BaseModel):
    action: Action = Action.allow
    categories: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    # The text with every `mask` decision applied; None when nothing was masked.
    redacted_text: str | None = None

    @property
    def masked_text(self) -> str | None:
        return self.redacted_text

    @property
    def blocked(self) -> bool:
        return self.action is Action.block

    @property
    def flagged(self) -> bool:
        return any(d.action is Action.flag for d in self.decisions)

    @property
    def escalated(self) -> bool:  # the old name of `flagged`
        return self.flagged

    def public(self) -> dict[str, object]:
        """A rendering safe to return or log: categories, kinds and spans, never the matched text."""
        return {
            "action": self.action.value,
            "categories": list(self.categories),
            "findings": [f.public() for f in self.findings],
            "decisions": [d.public() for d in self.decisions],
        }


class GuardBlocked(Exception):
    """Raised when a guard blocks text; the gateway maps it to HTTP 400 naming the categories only.

    `decisions` carries every decision taken up to the block (the blocking ones included) so the
    caller can audit them; they hold no matched text."""

    def __init__(
        self, categories: list[str], direction: str = "input", decisions: list[Decision] | None = None
    ) -> None:
        self.categories = sorted(set(categories))
        self.direction = direction
        self.decisions = list(decisions or [])
        super().__init__(f"{direction} blocked by guard: {', '.join(self.categories)}")


class Check(Protocol):
    """One detector. Stateless after construction; `scan` returns findings with spans."""

    name: str

    def scan(self, text: str, context: GuardContext) -> list[Finding]: ...


class Guard(Protocol):
    def check(self, text: str, context: GuardContext) -> Verdict: ...
