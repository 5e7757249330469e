"""Personal data: emails, phone numbers, payment cards (Luhn), IBANs (mod-97), US SSNs, UK NINOs.

Numbers are validated, not just shaped, so arithmetic and ids in ordinary prompts do not look like PII.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from nexus.guard.markers import Taken, blank_markers, inside_markers
from nexus.guard.prefilter import Prefilter
from nexus.guard.types import Finding, GuardContext, Risk


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Official IBAN lengths by country; an unknown country or wrong length is not an IBAN.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27,
    "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24,
    "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29,
    "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_ok(raw: str) -> bool:
    iban = re.sub(r"\s", "", raw).upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_ok(raw: str) -> bool:
    area, group, serial = raw[0:3], raw[4:6], raw[7:11]
    if area in ("000", "666") or area >= "900":
        return False
    return group != "00" and serial != "0000"


_NINO_BAD_PREFIXES = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def nino_ok(raw: str) -> bool:
    compact = re.sub(r"\s", "", raw).upper()
    first, second = compact[0], compact[1]
    if first in "DFIQUV" or second in "DFIOQUV":
        return False
    return compact[:2] not in _NINO_BAD_PREFIXES


@dataclass(frozen=True)
class PiiRule:
    kind: str
    regex: re.Pattern[str]
    risk: Risk
    label: str
    valid: Callable[[str], bool] | None = None


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def _card_ok(s: str) -> bool:
    d = _digits(s)
    return 13 <= len(d) <= 19 and luhn_ok(d)


def _phone_ok(s: str) -> bool:
    return 8 <= len(_digits(s)) <= 15


RULES: tuple[PiiRule, ...] = (
    # Bounded parts: an unbounded local part rescans a long run without "@" from every boundary.
    PiiRule("email", re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"), Risk.medium, "[EMAIL]"),
    PiiRule("card", re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-]|\.\d)"), Risk.high, "[CARD]", _card_ok),
    PiiRule("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), Risk.high, "[IBAN]", iban_ok),
    PiiRule("ssn", re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"), Risk.high, "[SSN]", ssn_ok),
    PiiRule("nino", re.compile(r"\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"), Risk.high, "[NINO]", nino_ok),
    # Phones need a separator-bearing shape or a + prefix: bare digit runs are usually quantities;
    # a dotted group next to more dotted digits is an IP address or a version, not a phone.
    PiiRule(
        "phone",
        re.compile(r"(?<![\w+.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![\w-]|\.\d)|(?<![\w+])\+\d{9,14}\b"),
        Risk.medium,
        "[PHONE]",
        _phone_ok,
    ),
)  # fmt: skip


_PREFILTER = Prefilter([r.regex for r in RULES])


class PiiCheck:
    name = "pii"
    category = "pii"

    def __init__(self, kinds: list[str] | None = None) -> None:
        self.rules = [r for r in RULES if not kinds or r.kind in kinds]
        self.prefilter = (
            _PREFILTER if len(self.rules) == len(RULES) else Prefilter([r.regex for r in self.rules])
        )

    def scan(self, text: str, context: GuardContext) -> list[Finding]:
        text, markers = blank_markers(text)
        candidates = self.prefilter.candidates(text)
        if not candidates:
            return []
        findings: list[Finding] = []
        taken = Taken()
        for i, rule in enumerate(self.rules):  # strongest first: a card number is not also a phone
            if i not in candidates:
                continue
            for m in rule.regex.finditer(text):
                if taken.overlaps(m.start(), m.end()):
                    continue
                if rule.valid is not None and not rule.valid(m.group(0)):
                    continue
                if markers and inside_markers(m.start(), m.end(), markers):
                    continue
                taken.add(m.start(), m.end())
                findings.append(
                    Finding(
                        check=self.name,
                        category=self.category,
                        kind=rule.kind,
                        risk=rule.risk,
                        start=m.start(),
                        end=m.end(),
                        label=rule.label,
                    )
                )
        return findings
