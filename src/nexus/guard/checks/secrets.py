"""Credentials: provider API-key shapes, cloud keys, tokens, PEM private keys, JWTs, password assignments."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nexus.guard.types import Finding, GuardContext, Risk


@dataclass(frozen=True)
class SecretRule:
    kind: str
    regex: re.Pattern[str]
    risk: Risk = Risk.high
    # Regex group holding the secret itself; 0 = the whole match (assignments keep their key name).
    group: int = 0


def _r(kind: str, pattern: str, risk: Risk = Risk.high, group: int = 0) -> SecretRule:
    return SecretRule(kind, re.compile(pattern), risk, group)


RULES: tuple[SecretRule, ...] = (
    _r("private_key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    _r("anthropic_key", r"\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{20,}|\bsk-ant-[A-Za-z0-9_-]{20,}"),
    _r("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    _r("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    _r("github_token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
    _r("slack_token", r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
    _r("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    _r("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
    _r("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _r(
        "password_assignment",
        r"""(?i)\b(?:password|passwd|pwd|pass|secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|client[_-]?secret|private[_-]?key|token)["']?\s*[:=]\s*["']?([^\s"',;]{6,})""",
        Risk.high,
        1,
    ),
)  # fmt: skip

# Values that are obviously placeholders, not credentials.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|\.+|<[^>]*>|\$\{?\w+\}?|your[-_].*|changeme|example.*|placeholder|redacted|\[.*\])$"
)


class SecretsCheck:
    name = "secrets"
    category = "secret"

    def scan(self, text: str, context: GuardContext) -> list[Finding]:
        findings: list[Finding] = []
        taken: list[tuple[int, int]] = []
        for rule in RULES:
            for m in rule.regex.finditer(text):
                start, end = m.span(rule.group)
                if rule.group and _PLACEHOLDER.match(m.group(rule.group)):
                    continue
                if any(start < e and s < end for s, e in taken):
                    continue
                taken.append((start, end))
                findings.append(
                    Finding(
                        check=self.name,
                        category=self.category,
                        kind=rule.kind,
                        risk=rule.risk,
                        start=start,
                        end=end,
                        label=f"[SECRET:{rule.kind}]",
                    )
                )
        return findings
