"""Everything in a Classification besides the domain: complexity, the three flags, the clarifying
question and subtasks. Rules, not a model: they are cheap (well under 0.1 ms), explainable, and the
labelled data for them is small; the authored suite in data/authored.jsonl pins their behaviour.
"""

from __future__ import annotations

import re

from nexus.routing.base import Classification, Complexity, Domain
from nexus.routing.features import window
from nexus.routing.subtasks import split_subtasks

_WORD = re.compile(r"[a-zA-Z']+")
# Numbers and arithmetic are content: "what is 2+2?" is a complete question, not a vague reference.
_CONTENT_SYMBOL = re.compile(r"\d|[+*/^=%√∫∑]")

# ---- ambiguity: a short line whose every word is a pronoun, a generic verb or filler --------------------
_REFERENT_WORDS = {
    "it",
    "this",
    "that",
    "these",
    "those",
    "them",
    "they",
    "him",
    "her",
    "one",
    "other",
    "thing",
    "things",
    "same",
    "again",
    "before",
    "back",
    "rest",
    "above",
    "previous",
    "last",
    "usual",
    "there",
    "then",
    "else",
    "second",
    "first",
    "option",
    "part",
    "version",
    "way",
    "stuff",
}
_GENERIC_WORDS = {
    "fix",
    "make",
    "do",
    "change",
    "try",
    "update",
    "improve",
    "redo",
    "use",
    "send",
    "finish",
    "apply",
    "clean",
    "shorten",
    "go",
    "work",
    "works",
    "better",
    "correct",
    "broken",
    "consistent",
    "pop",
    "just",
    "please",
    "pls",
    "can",
    "could",
    "you",
    "u",
    "the",
    "a",
    "an",
    "is",
    "are",
    "was",
    "what",
    "about",
    "why",
    "which",
    "and",
    "or",
    "no",
    "yes",
    "but",
    "like",
    "i",
    "said",
    "as",
    "for",
    "all",
    "to",
    "up",
    "on",
    "more",
    "less",
    "shorter",
    "longer",
    "doesn't",
    "does",
    "not",
    "everywhere",
    "hmm",
    "ok",
    "so",
    "with",
    "time",
    "its",
    "it's",
    "me",
    "my",
    "same",
    "way",
    "now",
    "how",
    "again",
    "bigger",
    "smaller",
    "good",
    "wrong",
    "right",
    "instead",
    "other",
    "another",
    "let's",
    "lets",
    "be",
    "in",
    "of",
    "at",
    "done",
}
_STANDALONE_AMBIGUOUS = {"why", "more", "redo", "send it", "go on", "and then", "the usual", "that one"}

# ---- self-answerable chit-chat ----------------------------------------------------------------------------
_CHITCHAT = re.compile(
    r"^\W*(hi+|hello|hey+|yo|sup|hiya|howdy|hola|bonjour|gm|good (morning|afternoon|evening|night)|"
    r"thanks?( a lot| so much)?|thank you( so much)?|thx|ty|cheers( mate)?|bye|see you|ok(ay)?|cool|nice|"
    r"great( job)?|awesome|lol|haha\w*|how are you|how r u|what'?s up|what are you up to|merci)\b",
    re.IGNORECASE,
)

# ---- critical: a wrong answer costs health, liberty, money or production -----------------------------
_CRITICAL = re.compile(
    r"\b(chest pain|overdose|dos(e|age)|insulin|warfarin|blood thinner|antidepressants?|suicid\w*|end (her|his|my|their) life|"
    r"kill (my|him|her)self|found a lump|a lump in|swallowed|poison\w*|allerg\w+ reaction|seizure|bleeding|stroke|heart attack|"
    r"pregnan\w+|medication|prescription|diagnos\w+|"
    r"lawsuit|sue|summons|court|evict\w*|contract|non-?compete|custody|immigration|visa|arrest\w*|legal\w*|lawyer|"
    r"audit\w*|irs|undeclared|fraud|"
    r"wire \$|second mortgage|entire (retirement|savings)|all (my|our|the) (money|savings)|life savings|"
    r"loan guarantee|options trading|"
    r"bleach|ammonia|gas (smell|leak)|carbon monoxide|breaker|electrical|brakes?|"
    r"production (is )?down|outage|incident|prod(uction)? database|data loss|roll ?back|fail ?over|"
    r"ransomware|breach|leak(ed)?|sql injection|vulnerab\w+|cve-\d|exploit|hacked|compromised|"
    r"certificate expires?)\b",  # matched on lower-cased text (IGNORECASE is several times slower)
)
_AMOUNT = re.compile(r"[$€£]\s?(\d[\d,]*(?:\.\d+)?)\s?(k|m|million)?\b", re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "million": 1e6}
# Above this, a should-I money question is a decision with real money at stake.
_BIG_MONEY = 50_000.0
_DECISION = re.compile(
    r"\b(should (i|we)|is (it|this) (safe|a good idea|legal)|can i|do we)\b", re.IGNORECASE
)

# ---- complexity -------------------------------------------------------------------------------------------
_HARD = re.compile(
    r"\b(design|architect\w*|prove|proof|implement|build|optimi[sz]e|refactor|dcf|analy[sz]e|step by step|"
    r"trade-?offs?|compare|strategy|end-to-end|distributed|concurren\w+|race condition|forecast|"
    r"short story|essay|speech|novel|screenplay|\d{3,} words)\b",
    re.IGNORECASE,
)


def is_ambiguous(text: str) -> bool:
    stripped = text.strip().lower().rstrip("?!. ")
    if not stripped or _CHITCHAT.match(stripped) and len(stripped.split()) <= 6:
        return False
    if stripped in _STANDALONE_AMBIGUOUS:
        return True
    words = _WORD.findall(stripped)
    if not words or len(words) > 8 or _CONTENT_SYMBOL.search(stripped):
        return False
    content = [w for w in words if w not in _GENERIC_WORDS and w not in _REFERENT_WORDS]
    return not content and any(w in _REFERENT_WORDS or w in _GENERIC_WORDS for w in words)


def clarifying_question(text: str) -> str:
    words = set(_WORD.findall(text.lower()))
    referent = next((w for w in ("it", "this", "that", "them", "one", "thing", "him") if w in words), None)
    if referent:
        return (
            f"Could you tell me what \u201c{referent}\u201d refers to? Please paste or describe it, "
            "and say what result you want."
        )
    return "Could you give me a bit more detail: what should I work on, and what result do you want?"


def is_critical(text: str, domain: Domain) -> bool:
    if _CRITICAL.search(text.lower()):
        return True
    # Money decisions: a large amount together with a should-I question.
    if domain != "finance" or not _DECISION.search(text):
        return False
    amounts = [float(n.replace(",", "")) * _SCALE[unit.lower()] for n, unit in _AMOUNT.findall(text)]
    return any(a >= _BIG_MONEY for a in amounts)


def complexity(text: str, domain: Domain, subtasks: int) -> Complexity:
    words = len(text.split())
    text = window(text)
    if domain == "conversation" and words <= 25 or words <= 6 and not _HARD.search(text):
        return "trivial"
    points = 0
    points += 2 if words > 150 else 1 if words > 40 else 0
    points += 1 if "```" in text or text.count("\n") >= 5 else 0
    points += 2 if _HARD.search(text) else 0
    points += 1 if subtasks >= 2 else 0
    points += 1 if subtasks >= 3 else 0
    points += 1 if domain in ("math", "reasoning") and words > 25 else 0
    if points >= 3:
        return "complex"
    if points >= 1:
        return "medium"
    return "simple"


# Rules read the head and tail of long pastes (regular expressions over 20k characters cost tens of ms);
# a paste longer than SPLIT_MAX_CHARS is one task (its numbered lines are code or data, not asks).
SPLIT_MAX_CHARS = 4000


def annotate(
    text: str, domain: Domain, scores: dict[str, float], method: str, uncertain: bool = False
) -> Classification:
    """Build the full Classification around a domain decision (shared by every classifier backend)."""
    ambiguous = is_ambiguous(text)
    subtasks = [] if ambiguous or len(text) > SPLIT_MAX_CHARS else split_subtasks(text)
    critical = is_critical(window(text), domain)
    level = complexity(text, domain, len(subtasks))
    words = len(text.split())
    chitchat = bool(_CHITCHAT.match(text)) and words <= 12
    tiny_fact = level == "trivial" and domain in ("knowledge", "math")
    can_self_answer = (chitchat or tiny_fact or (domain == "conversation" and words <= 25)) and not (
        ambiguous or critical or subtasks
    )
    return Classification(
        domain=domain,
        complexity=level,
        can_self_answer=can_self_answer,
        ambiguous=ambiguous,
        critical=critical,
        uncertain=uncertain,
        subtasks=subtasks,
        domain_scores=scores,
        method=method,
        clarifying_question=clarifying_question(text) if ambiguous else None,
    )
