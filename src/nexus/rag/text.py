"""Small text helpers shared by chunking, lexical features, compression and citation checks."""

from __future__ import annotations

import re
from collections.abc import Callable

TokenCounter = Callable[[str], int]

_PIECES = re.compile(r"\w+|[^\w\s]")
# A sentence ends at . ! ? (optionally closed by quotes/brackets) followed by space and a capital,
# digit or opening mark. "et al. The" splits wrongly now and then; compression tolerates that.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])|\n+")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()
)


def count_units(text: str) -> int:
    """Words and punctuation marks: the unit of chunk budgets (≈ 0.75 of a BPE token count). Callers that
    budget model tokens pass their own counter (the gateway's estimate_tokens)."""
    return len(_PIECES.findall(text))


def sentence_spans(text: str, base: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, shifted by `base`; whitespace between them excluded."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start()
        if text[pos:end].strip():
            spans.append(_trim(text, pos, end, base))
        pos = match.end()
    if text[pos:].strip():
        spans.append(_trim(text, pos, len(text), base))
    return spans


def _trim(text: str, start: int, end: int, base: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return base + start, base + end


def terms(text: str, *, keep_stopwords: bool = False) -> list[str]:
    words = _WORD.findall(text.lower())
    return words if keep_stopwords else [w for w in words if w not in STOPWORDS]


def normalise(text: str) -> str:
    """Lower case, one space between words, no punctuation: how citation quotes are compared."""
    return " ".join(_WORD.findall(text.lower()))
