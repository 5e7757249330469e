"""Credentials: provider API-key shapes, cloud keys, tokens, PEM private keys, JWTs, assignments.

Fixed-prefix shapes (`sk-proj-`, `AKIA`, `ghp_`…) are matched as such. Shapes without a prefix are
matched only with evidence: an AWS secret access key (40 base64 characters) counts when it is
assigned to an `aws_secret_access_key`-like name, or when it sits near an access key id or the
words "aws"/"secret" and mixes upper case, lower case and digits (a git SHA or a hex digest never
does). Assignments (`password = …`) skip placeholders and code that names a variable rather than a
value (`password = get_password()`, `token = self.token`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from nexus.guard.markers import Taken, blank_markers, inside_markers
from nexus.guard.prefilter import Prefilter
from nexus.guard.types import Finding, GuardContext, Risk

Valid = Callable[[re.Match[str], str], bool]


@dataclass(frozen=True)
class SecretRule:
    kind: str
    regex: re.Pattern[str]
    risk: Risk = Risk.high
    # Regex group holding the secret itself; 0 = the whole match (assignments keep their key name).
    group: int | str = 0
    # Extra evidence a match needs (the match, the whole text) -> keep it?
    valid: Valid | None = None
    # A pattern that must occur somewhere in the text for the rule to run at all (checked by the
    # prefilter): lets a shape without a fixed prefix skip the texts where `valid` would refuse it.
    gate: re.Pattern[str] | None = None


def _r(
    kind: str,
    pattern: str,
    group: int | str = 0,
    valid: Valid | None = None,
    gate: re.Pattern[str] | None = None,
) -> SecretRule:
    return SecretRule(kind, re.compile(pattern), Risk.high, group, valid, gate)


_WORDS_WITH_HYPHENS = re.compile(r"sk-(?:[a-z]+-)+[a-z]+")


def _not_words(m: re.Match[str], _text: str) -> bool:
    # "sk-learn-compatible-estimator" is prose; keys mix case or digits.
    return _WORDS_WITH_HYPHENS.fullmatch(m.group(0)) is None


_AWS_ID = r"(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[0-9A-Z]{16}"
_AWS_CONTEXT = re.compile(rf"(?i:aws|secret|credential)|{_AWS_ID}")
_AWS_WINDOW = 200


def _aws_bare(m: re.Match[str], text: str) -> bool:
    value = m.group(0)
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value)
    if not (mixed and any(c.isdigit() for c in value)):
        return False
    lo, hi = max(0, m.start() - _AWS_WINDOW), min(len(text), m.end() + _AWS_WINDOW)
    return _AWS_CONTEXT.search(text, lo, hi) is not None


# Values that are obviously placeholders or references, not credentials.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|\.+|-+|<[^>]*>?|\$\{?[\w.]+\}?|\{\{.*|%\(?\w*\)?s?|your[-_].*|changeme|example.*"
    r"|placeholder|redacted|\[.*|null|none|nil|true|false|undefined|required|optional|string|dummy"
    r"|process\.env.*|os\.environ.*|env\(.*|getenv.*)$"
)
# Unquoted code that names a value instead of holding one: a call, an index, an attribute path.
_CODE_VALUE = re.compile(r"[(\[{]|^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$")
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
_NAMED_AFTER_SECRET = re.compile(r"(?i)pass|secret|token|key|pwd")
_SYMBOL = re.compile(r"[\d\W_]")
# Names weak enough to appear in prose ("the secret: chocolate"): their values need a digit or symbol.
_WEAK_KEYS = {"secret", "token", "pass"}


def _assignment(m: re.Match[str], _text: str) -> bool:
    value = m.group("value")
    if _PLACEHOLDER.match(value):
        return False
    if m.group("quote"):
        return True
    if _CODE_VALUE.search(value):
        return False
    spaced = bool(m.group("gap") or m.group("gap2"))
    if _IDENTIFIER.fullmatch(value) and not any(c.isdigit() for c in value):
        # `password = password_input`, `token = token`: a variable, not a value.
        if _NAMED_AFTER_SECRET.search(value) or (spaced and m.group("sep") == "="):
            return False
    if m.group("sep") == "=" and not spaced:
        return True  # KEY=value: env files, URLs, command lines
    return m.group("key").lower() not in _WEAK_KEYS or _SYMBOL.search(value) is not None


_KEYWORDS = (
    r"password|passwd|passphrase|pwd|pass|secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token"
    r"|client[_-]?secret|private[_-]?key|secret[_-]?key|refresh[_-]?token|bearer[_-]?token|token"
)

RULES: tuple[SecretRule, ...] = (
    # A PEM block; an unterminated one (a paste cut short) still counts up to the end of its body.
    _r("private_key", r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----(?:(?:[^-]|-(?!----))*+-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----|(?:[ \t]*[\r\n]+(?:[A-Za-z-]+:[^\r\n]*|[A-Za-z0-9+/=]+))*)"),
    _r("anthropic_key", r"\bsk-ant-(?:api|admin|oat|ort)\d{2}-[A-Za-z0-9_-]{20,}|\bsk-ant-[A-Za-z0-9_-]{20,}"),
    _r("openai_key", r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}", valid=_not_words),
    _r("aws_access_key", rf"\b{_AWS_ID}\b"),
    _r("aws_secret_key", r"(?i)(?<![A-Za-z0-9])(?:aws[_.\- ]?)?secret[_.\- ]?(?:access[_.\- ]?)?key(?:[_.\- ]?id)?[\"']?\s{0,4}(?:[:=]>?|:=)?\s{0,4}[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])", group=1),
    _r("aws_secret_key", r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", valid=_aws_bare, gate=_AWS_CONTEXT),
    _r("github_token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
    _r("slack_token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-\d-[A-Za-z0-9-]{10,}"),
    _r("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}"),
    _r("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    _r("google_oauth", r"\bGOCSPX-[A-Za-z0-9_-]{28}\b|\bya29\.[0-9A-Za-z_-]{20,}"),
    _r("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b|\bwhsec_[A-Za-z0-9]{24,}\b"),
    _r("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    _r("bearer_token", r"(?i)\b(?:authorization|proxy-authorization)[\"']?\s{0,4}[:=]\s{0,4}[\"']?(?:bearer|token|basic)\s+([A-Za-z0-9._~+/=-]{16,})", group=1),
    _r("url_credentials", r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@\"']{1,64}:([^\s:/@\"']{3,128})@", group=1),
    _r("password_assignment", rf"(?i)(?<![A-Za-z0-9])(?P<key>{_KEYWORDS})[\"']?(?P<gap>\s{{0,4}})(?P<sep>[:=])(?P<gap2>\s{{0,4}})(?P<quote>[\"']?)(?P<value>[^\s\"',;&]{{6,256}})", group="value", valid=_assignment),
)  # fmt: skip

_GATES = [r.gate for r in RULES if r.gate is not None]
_PREFILTER = Prefilter([r.regex for r in RULES] + _GATES)
_GATE_INDEX = {id(g): len(RULES) + i for i, g in enumerate(_GATES)}


def _runs(i: int, rule: SecretRule, candidates: Collection[int]) -> bool:
    return i in candidates and (rule.gate is None or _GATE_INDEX[id(rule.gate)] in candidates)


class SecretsCheck:
    name = "secrets"
    category = "secret"

    def scan(self, text: str, context: GuardContext) -> list[Finding]:
        text, markers = blank_markers(text)
        candidates = _PREFILTER.candidates(text)
        if not candidates:
            return []
        findings: list[Finding] = []
        taken = Taken()
        for i, rule in enumerate(RULES):
            if not _runs(i, rule, candidates):
                continue
            for m in rule.regex.finditer(text):
                start, end = m.span(rule.group)
                if taken.overlaps(start, end):
                    continue
                if rule.valid is not None and not rule.valid(m, text):
                    continue
                if markers and inside_markers(start, end, markers):
                    continue
                taken.add(start, end)
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
