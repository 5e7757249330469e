"""A tolerant parser for the judge's verdict: JSON when it can, the score in prose when it cannot."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


class VerdictParseError(ValueError):
    """The judge's reply holds no recognisable score."""


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float
    critique: str


_JSON_OBJECT = re.compile(r"\{.*?\}", re.S)
_SCORE_WORD = re.compile(r"score\W{0,5}(\d+(?:\.\d+)?)", re.I)
_OUT_OF_TEN = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.I)


def parse_verdict(text: str) -> Verdict:
    """Scores outside 1–10 are clamped; a reply with no score raises VerdictParseError."""
    for candidate in _JSON_OBJECT.findall(text or ""):
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(obj, dict) and "score" in obj:
            try:
                score = float(obj["score"])
            except (TypeError, ValueError):
                continue
            return Verdict(_clamp(score), str(obj.get("critique") or obj.get("reason") or "").strip())
    match = _SCORE_WORD.search(text or "") or _OUT_OF_TEN.search(text or "")
    if match:
        return Verdict(_clamp(float(match.group(1))), (text or "").strip()[:500])
    raise VerdictParseError(f"no score in judge reply: {(text or '')[:120]!r}")


def _clamp(score: float) -> float:
    return min(10.0, max(1.0, score))
