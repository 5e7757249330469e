"""GuardPipeline: runs the configured checks layer by layer and folds their findings into one Verdict."""

from __future__ import annotations

from nexus.guard.config import GuardConfig
from nexus.guard.registry import build_check
from nexus.guard.types import Action, Check, Finding, GuardBlocked, GuardContext, Verdict


def redact(text: str, findings: list[Finding]) -> str:
    """Replace each finding's span with its label; overlapping spans merge into the first label."""
    spans = sorted(
        (f.start, f.end, f.label or f"[{f.category.upper()}]") for f in findings if f.end > f.start
    )
    out: list[str] = []
    pos = 0
    for start, end, label in spans:
        if end <= pos:
            continue
        if start >= pos:
            out.append(text[pos:start])
            out.append(label)
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)


class GuardPipeline:
    """The `Guard` used by the gateway and pipeline. Build once; `check` is synchronous and CPU-only."""

    def __init__(self, config: GuardConfig | None = None) -> None:
        self.config = config or GuardConfig()
        self.layers: list[list[Check]] = [
            [build_check(n, self.config) for n in layer] for layer in self.config.layers
        ]

    def check(self, text: str, context: GuardContext | None = None) -> Verdict:
        context = context or GuardContext()
        findings: list[Finding] = []
        action = Action.allow
        for layer in self.layers:
            for check in layer:
                for finding in check.scan(text, context):
                    findings.append(finding)
                    step = self.config.action_for(finding.category, finding.risk)
                    if step.rank > action.rank:
                        action = step
            if action is Action.block:
                break
        categories = sorted(
            {f.category for f in findings if self.config.action_for(f.category, f.risk) is not Action.allow}
        )
        to_redact = [f for f in findings if self.config.action_for(f.category, f.risk) is Action.redact]
        return Verdict(
            action=action,
            categories=categories,
            findings=findings,
            redacted_text=redact(text, to_redact) if to_redact else None,
        )

    def enforce(self, text: str, context: GuardContext | None = None) -> tuple[str, Verdict]:
        """The text to pass on (redacted where needed) and the verdict; raises GuardBlocked on block."""
        context = context or GuardContext()
        verdict = self.check(text, context)
        if verdict.blocked:
            raise GuardBlocked(verdict.categories, context.direction)
        return (verdict.redacted_text if verdict.redacted_text is not None else text), verdict
