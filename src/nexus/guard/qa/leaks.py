"""The QA step's safety net: an answer in which QA finds a leak is delivered masked, never raw.

`check_security` reports secrets and personal data by kind and line; `mask_leaks` masks exactly
what those same detectors find (to a fixed point, markers never nested), whatever the tenant's
actions say, so an answer that still fails QA after its retries can be delivered safely.
"""

from __future__ import annotations

from nexus.guard.config import GuardConfig
from nexus.guard.pipeline import GuardPipeline
from nexus.guard.request import GuardedText
from nexus.guard.types import Action, GuardContext, Risk

_MASK_ALL = {r: Action.mask for r in Risk}
_PIPELINE = GuardPipeline(
    GuardConfig(layers=[["secrets", "pii"]], actions={"secret": _MASK_ALL, "pii": _MASK_ALL})
)
_CONTEXT = GuardContext(direction="output", role="assistant")


def mask_leaks(answer: str) -> GuardedText:
    """The answer with every secret and PII leak QA would report replaced by a marker."""
    verdict = _PIPELINE.check(answer, _CONTEXT)
    masked = verdict.redacted_text
    return GuardedText(masked if masked is not None else answer, verdict.decisions)
