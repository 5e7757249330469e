"""nexus.guard: input/output guardrails (injection, PII, secrets, policy) and the QA spec runner."""

from nexus.guard.config import GuardConfig, InjectionConfig, TopicRule
from nexus.guard.pipeline import GuardPipeline, redact
from nexus.guard.registry import CHECKS, build_check
from nexus.guard.stream import StreamGuard
from nexus.guard.types import Action, Check, Finding, Guard, GuardBlocked, GuardContext, Risk, Verdict

__all__ = [
    "CHECKS",
    "Action",
    "Check",
    "Finding",
    "Guard",
    "GuardBlocked",
    "GuardConfig",
    "GuardContext",
    "GuardPipeline",
    "InjectionConfig",
    "Risk",
    "StreamGuard",
    "TopicRule",
    "Verdict",
    "build_check",
    "redact",
]
