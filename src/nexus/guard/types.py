"""The guard's vocabulary: risk levels, actions, findings, verdicts, and the Guard protocol."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field


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
    allow = "allow"
    redact = "redact"
    escalate = "escalate"
    block = "block"

    @property
    def rank(self) -> int:
        return _ACTION_RANK[self]


# Escalate outranks redact: the run is flagged but still answered; block ends it.
_ACTION_RANK = {Action.allow: 0, Action.redact: 1, Action.escalate: 2, Action.block: 3}


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
    # Replacement used when redacting, e.g. "[EMAIL]".
    label: str = ""

    def public(self) -> dict[str, object]:
        return {
            "check": self.check,
            "category": self.category,
            "kind": self.kind,
            "risk": self.risk.value,
            "span": [self.start, self.end],
        }


class GuardContext(BaseModel):
    """Who is asking, and where the text sits (input prompt or model output)."""

    tenant: str | None = None
    model: str | None = None
    direction: str = "input"  # "input" | "output"


class Verdict(BaseModel):
    action: Action = Action.allow
    categories: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    redacted_text: str | None = None

    @property
    def blocked(self) -> bool:
        return self.action is Action.block

    @property
    def escalated(self) -> bool:
        return self.action is Action.escalate

    def public(self) -> dict[str, object]:
        """A rendering safe to return or log: categories and spans, never the matched text."""
        return {
            "action": self.action.value,
            "categories": list(self.categories),
            "findings": [f.public() for f in self.findings],
        }


class GuardBlocked(Exception):
    """Raised when a guard blocks text; the gateway maps it to HTTP 400 naming the categories only."""

    def __init__(self, categories: list[str], direction: str = "input") -> None:
        self.categories = sorted(set(categories))
        self.direction = direction
        super().__init__(f"{direction} blocked by guard: {', '.join(self.categories)}")


class Check(Protocol):
    """One detector. Stateless after construction; `scan` returns findings with spans."""

    name: str

    def scan(self, text: str, context: GuardContext) -> list[Finding]: ...


class Guard(Protocol):
    def check(self, text: str, context: GuardContext) -> Verdict: ...
