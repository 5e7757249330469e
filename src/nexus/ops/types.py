"""What a check says: a state (ok, warning, critical, or skipped when it does not apply here), a line a
person reads, and numbers for the history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

State = Literal["ok", "warning", "critical", "skipped"]
SEVERITY: dict[str, int] = {"skipped": 0, "ok": 0, "warning": 1, "critical": 2}
EXIT_CODES: dict[str, int] = {"ok": 0, "skipped": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    state: State
    detail: str = ""
    latency_ms: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None  # None: about the whole deployment

    @property
    def failing(self) -> bool:
        return SEVERITY[self.state] > 0


class Check(Protocol):
    """One probe; it may report several results (one per provider, per GPU, per tenant's budgets)."""

    name: str

    async def run(self) -> list[CheckResult]: ...


def worst(states: Iterable[str]) -> State:
    out: State = "ok"
    for s in states:
        if SEVERITY.get(s, 0) > SEVERITY[out]:
            out = s  # type: ignore[assignment]
    return out


def by_threshold(value: float, warn: float, crit: float) -> State:
    return "critical" if value >= crit else "warning" if value >= warn else "ok"
