"""Operator policy: blocked topics (keywords/regexes) and the models each tenant may use."""

from __future__ import annotations

import re

from nexus.guard.config import GuardConfig, TopicRule
from nexus.guard.types import Finding, GuardContext, Risk


class _CompiledTopic:
    def __init__(self, rule: TopicRule) -> None:
        self.rule = rule
        parts = [rf"\b{re.escape(k)}\b" for k in rule.keywords] + list(rule.patterns)
        self.regex = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE) if parts else None


class PolicyCheck:
    name = "policy"
    category = "policy"

    def __init__(self, config: GuardConfig) -> None:
        self.topics = [_CompiledTopic(r) for r in config.blocked_topics]
        self.allowed_models = config.allowed_models

    def scan(self, text: str, context: GuardContext) -> list[Finding]:
        findings: list[Finding] = []
        for topic in self.topics:
            m = topic.regex.search(text) if topic.regex else None
            if m:
                findings.append(
                    Finding(
                        check=self.name,
                        category=self.category,
                        kind=f"topic:{topic.rule.name}",
                        risk=topic.rule.risk,
                        start=m.start(),
                        end=m.end(),
                        label="[BLOCKED]",
                    )
                )
        if context.tenant is not None and context.model is not None:
            allowed = self.allowed_models.get(context.tenant)
            if allowed is not None and "*" not in allowed and context.model not in allowed:
                findings.append(
                    Finding(check=self.name, category=self.category, kind="model_not_allowed", risk=Risk.high)
                )
        return findings
