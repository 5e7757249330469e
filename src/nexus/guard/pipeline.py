"""GuardPipeline: runs the configured checks layer by layer and folds their findings into one Verdict.

Each finding gets an action from the configuration's (category, risk) table; the verdict's action
is the strongest. Masking runs to a fixed point (the masked text is scanned again until nothing new
is found), so `mask(mask(x)) == mask(x)` holds by construction; markers are invisible to the
checks (see nexus.guard.markers), so a second pass never nests them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from nexus.guard.config import GuardConfig
from nexus.guard.markers import mask
from nexus.guard.registry import build_check
from nexus.guard.types import Action, Check, Decision, Finding, GuardBlocked, GuardContext, Verdict

# The checks whose findings can be masked; a fixed point needs only these rescanned.
MASKING_CHECKS = frozenset({"secrets", "pii"})
_MAX_PASSES = 8


def _collapse(decisions: list[Decision]) -> list[Decision]:
    """One decision per (category, kind, risk, action, check), counting its findings."""
    seen: dict[tuple[str, str, str, str, str], Decision] = {}
    for d in decisions:
        key = (d.category, d.kind, d.risk.value, d.action.value, d.check)
        prior = seen.get(key)
        seen[key] = d if prior is None else prior.model_copy(update={"count": prior.count + 1})
    return list(seen.values())


def redact(text: str, findings: list[Finding]) -> str:
    """Replace each finding's span with its marker; overlapping spans merge into one marker."""
    return mask(text, findings)


class GuardPipeline:
    """The `Guard` used by the gateway and pipeline. Build once; `check` is synchronous and CPU-only.

    `shared` lends already-built checks by name (the ones whose construction does not depend on
    a tenant's overrides), so a per-tenant pipeline costs no regex compilation."""

    def __init__(self, config: GuardConfig | None = None, shared: Mapping[str, Check] | None = None) -> None:
        self.config = config or GuardConfig()
        shared = shared or {}
        self.layers: list[list[Check]] = [
            [shared[n] if n in shared else build_check(n, self.config) for n in layer]
            for layer in self.config.layers
        ]

    def decide(self, finding: Finding, context: GuardContext) -> Decision:
        return Decision(
            category=finding.category,
            kind=finding.kind,
            risk=finding.risk,
            action=self.config.action_for(finding.category, finding.risk),
            check=finding.check,
            direction=context.direction,
            score=finding.score,
            door=context.door,
            role=context.role,
        )

    def check(
        self, text: str, context: GuardContext | None = None, only: Collection[str] | None = None
    ) -> Verdict:
        """Scan `text`; `only` limits the run to the named checks (e.g. masking checks on a system
        message)."""
        context = context or GuardContext()
        findings: list[Finding] = []
        action = Action.allow
        for layer in self.layers:
            for check in layer:
                if only is not None and check.name not in only:
                    continue
                for finding in check.scan(text, context):
                    findings.append(finding)
                    step = self.config.action_for(finding.category, finding.risk)
                    if step.rank > action.rank:
                        action = step
            if action is Action.block:
                break
        if not findings:
            return Verdict()
        decisions = [self.decide(f, context) for f in findings]
        acted = _collapse([d for d in decisions if d.action is not Action.allow])
        to_mask = [f for f, d in zip(findings, decisions, strict=True) if d.action is Action.mask]
        masked = None
        if to_mask and action is not Action.block:
            masked = self._mask_fixed_point(text, to_mask, context, only)
        return Verdict(
            action=action,
            categories=sorted({d.category for d in acted}),
            findings=findings,
            decisions=acted,
            redacted_text=masked,
        )

    def _mask_fixed_point(
        self, text: str, to_mask: list[Finding], context: GuardContext, only: Collection[str] | None
    ) -> str:
        masked = mask(text, to_mask)
        names = MASKING_CHECKS if only is None else MASKING_CHECKS.intersection(only)
        checks = [c for layer in self.layers for c in layer if c.name in names]
        for _ in range(_MAX_PASSES):
            more = [
                f
                for c in checks
                for f in c.scan(masked, context)
                if self.config.action_for(f.category, f.risk) is Action.mask
            ]
            if not more:
                break
            masked = mask(masked, more)
        return masked

    def enforce(self, text: str, context: GuardContext | None = None) -> tuple[str, Verdict]:
        """The text to pass on (masked where needed) and the verdict; raises GuardBlocked on block."""
        context = context or GuardContext()
        verdict = self.check(text, context)
        if verdict.blocked:
            raise GuardBlocked(verdict.categories, context.direction, verdict.decisions)
        return (verdict.redacted_text if verdict.redacted_text is not None else text), verdict
