"""QA results: one entry per check, pass/fail with human-readable messages."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CheckResult(BaseModel):
    name: str
    passed: bool
    messages: list[str] = Field(default_factory=list)


class QAReport(BaseModel):
    spec: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, object]:
        return {"spec": self.spec, "passed": self.passed, "checks": [c.model_dump() for c in self.checks]}
