"""Lead data from what a customer writes: email and phone by deterministic parsing and validation (phone
numbers with `phonenumbers`, normalised to E.164), name, company and intent by local patterns in several
languages. A conversation's lead accumulates: a later message fills or corrects a field, never erases one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

import phonenumbers

FIELDS = ("name", "email", "phone", "company", "intent")

EMAIL = re.compile(r"(?<![\w.+'-])([\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})(?![\w-])")
# A name: one to three capitalised words (accents, apostrophes and hyphens inside a word).
_WORD = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]*(?:['’-][A-Za-zÀ-ÖØ-öø-ÿ]+)*"
_NAME = rf"({_WORD}(?:\s+(?:(?:de|da|van|von|del|di|le|la)\s+)?{_WORD}){{0,2}})"
_TITLE = r"(?:(?:Dr|Mr|Mrs|Ms|Mme|Mlle|Herr|Frau|Sr|Sra|Prof)\.?\s+)?"
NAME_PATTERNS = [
    re.compile(p + _TITLE + _NAME, re.M)
    for p in (
        r"(?i:\bmy name is)\s+",
        r"(?i:\bname'?s)\s+",
        r"(?i:\bi'?m)\s+",
        r"(?i:\bi am)\s+",
        r"(?i:\bthis is)\s+",
        r"(?i:\bje m'appelle)\s+",
        r"(?i:\bje suis)\s+",
        r"(?i:\bich bin)\s+",
        r"(?i:\bich heiße|\bich heisse|\bmein name ist)\s+",
        r"(?i:\bme llamo|\bmi nombre es|\bsoy)\s+",
        r"(?i:\bmi chiamo|\bsono)\s+",
        r"(?i:\bmeu nome é|\bchamo-me)\s+",
        r"(?:^|[.!?]\s+)(?i:regards|best|thanks|cheers|cordialement|grüße|saludos|saluti|atenciosamente),?\s*\n?\s*",
    )
]
# Words after "I'm" that are not names (the first word of a match; trailing ones are dropped).
NOT_NAMES = {
    "Interested", "Looking", "Trying", "Not", "Just", "From", "With", "At", "In", "The", "A", "An",
    "Calling", "Writing", "Here", "Happy", "Glad", "Sorry", "Still", "Also", "Very", "So", "Ready",
    "Planning", "Thinking", "Wondering", "Having", "Getting", "Going", "Using", "Working",
}  # fmt: skip
SUFFIXES = (
    r"(?:Ltd\.?|Limited|GmbH|AG|Inc\.?|LLC|L\.L\.C\.|Corp\.?|Corporation|S\.A\.|SA|SARL|S\.r\.l\.|"
    r"S\.p\.A\.|SpA|BV|B\.V\.|Oy|AB|PLC|plc|Pty|KG|SAS|JSC)"
)
COMPANY_SUFFIXED = re.compile(rf"\b((?:(?:[A-Z0-9À-Þ][\w&'’.-]*|&)\s+){{0,4}}{SUFFIXES})(?![\w])")
COMPANY_AFTER = re.compile(
    r"(?i:\b(?:work(?:ing)? (?:at|for)|from|at|with|bei|chez|presso|de la empresa|für|de|da|do)\s+)"
    r"((?:[A-Z][\w&'’-]*)(?:\s+[A-Z][\w&'’-]*){0,3})"
)
INTENTS = (
    ("purchase", r"\b(buy|purchase|pricing|price|quote|order|subscribe|plan|cost|kaufen|acheter|comprar|preis|prix|precio)"),
    ("demo", r"\b(demo|trial|try it|walkthrough|démonstration|vorführung|demostración)"),
    ("support", r"\b(help|problem|issue|broken|error|bug|not working|refund|cancel|hilfe|aide|ayuda|problème|problema)"),
    ("partnership", r"\b(partner|partnership|reseller|integrat|collaborat)"),
)  # fmt: skip


@dataclass
class LeadData:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    intent: str | None = None

    def merge(self, newer: LeadData) -> LeadData:
        """This lead updated by a later message's findings: a field is replaced, never erased."""
        return LeadData(**{f.name: getattr(newer, f.name) or getattr(self, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @property
    def empty(self) -> bool:
        return not any(self.as_dict().values())


def extract_email(text: str) -> str | None:
    m = EMAIL.search(text)
    if not m:
        return None
    local, _, domain = m.group(1).rpartition("@")
    return f"{local}@{domain.lower()}"


def extract_phone(text: str, region: str = "US") -> str | None:
    """The first valid phone number, E.164; national formats read as `region`'s."""
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        if phonenumbers.is_valid_number(match.number):
            return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def extract_name(text: str) -> str | None:
    for pattern in NAME_PATTERNS:
        for m in pattern.finditer(text):
            words = m.group(1).split()
            while words and words[-1] in NOT_NAMES and len(words[-1]) > 3:
                words.pop()
            if words and words[0] not in NOT_NAMES:
                return " ".join(words)
    return None


def extract_company(text: str) -> str | None:
    m = COMPANY_SUFFIXED.search(text)
    if m:
        return m.group(1).strip()
    for m in COMPANY_AFTER.finditer(text):
        name = m.group(1).strip()
        if name.split()[0] not in NOT_NAMES and not EMAIL.search(name):
            return name
    return None


def extract_intent(text: str) -> str | None:
    low = text.lower()
    for intent, pattern in INTENTS:
        if re.search(pattern, low):
            return intent
    return None


def extract_lead(text: str, region: str = "US") -> LeadData:
    return LeadData(
        name=extract_name(text),
        email=extract_email(text),
        phone=extract_phone(text, region),
        company=extract_company(text),
        intent=extract_intent(text),
    )
