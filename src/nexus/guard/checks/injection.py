"""Prompt-injection and jailbreak heuristics: weighted patterns combined as a noisy-or score.

Each pattern is evidence, not proof; one weak cue ("act as") stays under the detection threshold,
while two independent cues or one strong cue cross it. Encoded payloads (base64/hex) are decoded
and scanned again, with a bonus, because hiding an instruction is itself a signal.

Speed: the text is read twice (normalised, then with leetspeak and word glue undone); one RE2 pass
per reading says which patterns can match (nexus.guard.prefilter), and only those run in `re`.
Decoding is bounded (a few payloads, a few KiB each), so long logs and code stay linear.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

from nexus.guard.checks.injection_patterns import PATTERNS, Pattern
from nexus.guard.config import InjectionConfig
from nexus.guard.prefilter import Prefilter
from nexus.guard.types import Finding, GuardContext, Risk

__all__ = ["PATTERNS", "InjectionCheck", "Pattern", "deobfuscate", "normalize", "score_text"]

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

_B64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[\s:]?){12,}\b")
# At most this many runs per text are tried, this many decode to text, and this many characters
# of each are decoded: a log full of hashes stays linear (an attacker can hide a payload behind
# 32 decoys; the plain-text patterns still see everything around it).
_MAX_ATTEMPTS = 32
_MAX_PAYLOADS = 8
_MAX_PAYLOAD_CHARS = 4096

_LEET = str.maketrans("0134578@$", "oieastbas")
# "\b[A-Za-z]", written so the regex starts on a character class (a fast scan) and not on `\b`.
_SPACED = re.compile(r"[A-Za-z](?<!\w[A-Za-z])(?:(?: |[.*_-])[A-Za-z]\b|\s{2,}[A-Za-z]\b){3,}")
# Words holding both an ASCII letter and a digit leetspeak maps: the only words `_LEET` changes.
_LEET_WORD = re.compile(r"\b(?=\w*[A-Za-z])(?=\w*[0134578])\w+")
_LEET_FEATURE = re.compile(r"[A-Za-z]\w*[0134578]|[0134578]\w*[A-Za-z]")  # the same, as RE2 can read it
_GLUE = re.compile(r"[.-](?<=\w[.-])(?=\w)")
_SPACES = re.compile(r"[ \t]{2,}")

# One RE2 set: the patterns, then the "features" saying which transforms a text needs (spaced-out
# letters, leetspeak, encoded payloads), so plain text costs one pass for both.
_N = len(PATTERNS)
_F_SPACED, _F_LEET, _F_B64, _F_HEX = range(_N, _N + 4)
_PREFILTER = Prefilter(
    [*(p.regex for p in PATTERNS), _SPACED, _LEET_FEATURE, _B64, _HEX],
    exact={_F_SPACED, _F_LEET, _F_B64, _F_HEX},
    leet=True,  # one pass over the normalised text stands for both readings of it
)
Features = frozenset[int] | set[int] | range


def _unspace(m: re.Match[str]) -> str:
    # "i g n o r e   a l l" -> "ignore all": single separators vanish, wider gaps are word breaks.
    return " ".join(re.sub(r"[ .*_-]", "", w) for w in re.split(r"\s{2,}", m.group(0)))


def normalize(text: str, features: Features | None = None) -> str:
    # `features` (the prefilter's answer for this text) lets ASCII text skip the spaced-letters pass.
    """Undo cheap obfuscation: full-width letters, zero-width joiners, spaced-out letters."""
    if not text.isascii():  # ASCII text is already NFKC and has no zero-width characters
        text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
        features = None
    if features is not None and _F_SPACED not in features:
        return text
    return _SPACED.sub(_unspace, text)


def deobfuscate(text: str, features: Features | None = None) -> str:
    """A second reading: leetspeak digits in words, and punctuation used as word glue."""
    if _F_LEET in features if features is not None else _LEET_WORD.search(text):
        text = _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), text)
    if "." in text or "-" in text:
        text = _GLUE.sub(" ", text)
    text = text.replace("_", " ").replace(",", " ")
    return _SPACES.sub(" ", text) if "  " in text or "\t" in text else text


def _decoded_payloads(text: str, features: Features) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    runs: list[tuple[re.Match[str], bool]] = []
    if _F_B64 in features:
        runs += [(m, False) for _, m in zip(range(_MAX_ATTEMPTS), _B64.finditer(text), strict=False)]
    if _F_HEX in features:
        runs += [(m, True) for _, m in zip(range(_MAX_ATTEMPTS), _HEX.finditer(text), strict=False)]
    for m, is_hex in runs[:_MAX_ATTEMPTS]:
        try:
            if is_hex:
                raw = bytes.fromhex(re.sub(r"[\s:]", "", m.group(0))[: _MAX_PAYLOAD_CHARS * 2])
            else:
                head = m.group(0)[:_MAX_PAYLOAD_CHARS].rstrip("=")
                raw = base64.b64decode(head + "=" * (-len(head) % 4), validate=True)
            decoded = raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if all(c.isprintable() or c.isspace() for c in decoded):
            out.append((m.start(), m.end(), decoded))
            if len(out) >= _MAX_PAYLOADS:
                break
    return out


Hit = tuple[str, int, int, float]
# On texts longer than this, a candidate pattern is searched only near the places its widened form
# matched (within _REACH characters): on a 20k code dump that is ~10x less `re` work. A match longer
# than _REACH (a thousand characters of whitespace inside an instruction) could be missed there.
_LONG = 4096
_REACH = 1000


def _search(i: int, text: str) -> re.Match[str] | None:
    regex = PATTERNS[i].regex
    if len(text) <= _LONG:
        return regex.search(text)
    windows = _PREFILTER.windows(i, text, _REACH)
    if windows is None:
        return regex.search(text)
    for lo, hi in windows:
        m = regex.search(text, lo, hi)
        if m:
            return m
    return None


def _hits(norm: str, candidates: Features, features: Features) -> dict[str, Hit]:
    # The second reading is built only when some pattern may match (rare on ordinary text).
    alt = deobfuscate(norm, features)
    hits: dict[str, Hit] = {}
    for i in sorted(i for i in candidates if i < _N):
        pattern = PATTERNS[i]
        # Spans index the normalised text; it has the same length unless obfuscation was undone.
        m = _search(i, norm) or (_search(i, alt) if alt != norm else None)
        if m:
            hits[pattern.id] = (pattern.id, m.start(), m.end(), pattern.weight)
    return hits


def score_text(text: str, *, exhaustive: bool = False) -> tuple[float, list[Hit]]:
    """Noisy-or score over distinct patterns, and the hits as (pattern id, start, end, weight).

    `exhaustive` runs every pattern and transform without the prefilter: the reference the tests
    compare the fast path with."""
    return _score_text(text, exhaustive, None)


def _score_text(text: str, exhaustive: bool, seen: Features | None) -> tuple[float, list[Hit]]:
    everything = range(_N + 4)
    found = everything if exhaustive else (seen if seen is not None else _PREFILTER.candidates(text))
    norm = normalize(text, found)
    # Text that normalisation left alone was already scanned: reuse that pass.
    on_norm = found if norm == text or exhaustive else _PREFILTER.candidates(norm)
    if not any(i < _N for i in on_norm):
        return 0.0, []
    hits = _hits(norm, on_norm, on_norm)
    remaining = 1.0
    for _, _, _, weight in hits.values():
        remaining *= 1.0 - weight
    return 1.0 - remaining, list(hits.values())


class InjectionCheck:
    name = "injection"
    category = "prompt_injection"

    def __init__(self, config: InjectionConfig | None = None) -> None:
        self.config = config or InjectionConfig()

    def score(self, text: str) -> float:
        return self._score(text)[0]

    def _score(self, text: str, exhaustive: bool = False) -> tuple[float, list[Hit]]:
        found = range(_N + 4) if exhaustive else _PREFILTER.candidates(text)
        score, hits = _score_text(text, exhaustive, found)
        if self.config.decode_payloads:
            for start, end, decoded in _decoded_payloads(text, found):
                inner, inner_hits = _score_text(decoded, exhaustive, None)
                if inner_hits:
                    # A hidden instruction counts fully, plus a bonus for the hiding.
                    inner = min(1.0, inner + 0.2)
                    hits.append(("encoded_payload", start, end, inner))
                    score = 1.0 - (1.0 - score) * (1.0 - inner)
        return score, hits

    def risk_for(self, score: float) -> Risk:
        cfg = self.config
        if score >= cfg.high:
            return Risk.high
        if score >= cfg.medium:
            return Risk.medium
        if score >= cfg.low:
            return Risk.low
        return Risk.none

    def scan(self, text: str, context: GuardContext) -> list[Finding]:
        """One finding per text: the strongest pattern names it, every contributing one is a signal."""
        score, hits = self._score(text)
        risk = self.risk_for(score)
        if risk is Risk.none or not hits:
            return []
        pid, start, end, _ = max(hits, key=lambda h: h[3])
        return [
            Finding(
                check=self.name,
                category=self.category,
                kind=pid,
                risk=risk,
                start=start,
                end=end,
                score=round(score, 4),
                signals=[h[0] for h in hits],
            )
        ]
