"""nexus.guard: input/output guardrails (injection, PII, secrets, policy) and the QA spec runner.

The entry point for a chat turn is `ChatGuard.policy_for(tenant, overrides)` → `GuardPolicy`
(`check_messages`, `check_answer`, `stream`); `nexus.guard.qa.mask_leaks` is the QA step's hook.
"""

from nexus.guard.config import CATEGORIES, GuardConfig, GuardOverrides, InjectionConfig, TopicRule
from nexus.guard.markers import MARKER, mask
from nexus.guard.pipeline import GuardPipeline, redact
from nexus.guard.registry import CHECKS, build_check
from nexus.guard.request import ChatGuard, GuardedMessages, GuardedText, GuardPolicy
from nexus.guard.stream import StreamGuard
from nexus.guard.types import (
    Action,
    Check,
    Decision,
    Finding,
    Guard,
    GuardBlocked,
    GuardContext,
    Risk,
    Verdict,
)

__all__ = [
    "CATEGORIES",
    "CHECKS",
    "MARKER",
    "Action",
    "ChatGuard",
    "Check",
    "Decision",
    "Finding",
    "Guard",
    "GuardBlocked",
    "GuardConfig",
    "GuardContext",
    "GuardOverrides",
    "GuardPipeline",
    "GuardPolicy",
    "GuardedMessages",
    "GuardedText",
    "InjectionConfig",
    "Risk",
    "StreamGuard",
    "TopicRule",
    "Verdict",
    "build_check",
    "mask",
    "redact",
]
