"""Mask markers: the text that replaces a masked span, and the rules that keep masking idempotent.

A marker is `[SECRET:<kind>]`, `[EMAIL]`, `[PHONE]`… Three properties hold together:
- markers never match a rule: checks scan a *blanked* copy of the text in which every marker is
  replaced by spaces of the same length (so spans still index the original text), which is why
  `[SECRET:password_assignment]` is no longer read as a `secret:` assignment and nested;
- overlapping findings merge into one marker (the strongest finding names it);
- `mask(mask(x)) == mask(x)`: the guard masks to a fixed point (see GuardPipeline).

Markers are short and made only of capitals, lower-case, digits, `_` and `:`, so writing one next
to a real secret hides nothing: the secret is scanned as before.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from nexus.guard.types import Finding

MARKER = re.compile(
    r"\[(?:SECRET(?::[a-z0-9_]{1,40})?|EMAIL|PHONE|CARD|IBAN|SSN|NINO|PII|BLOCKED|POLICY|REDACTED)\]"
)
_FALLBACK = "[REDACTED]"
# Which finding names a merged marker: secrets before personal data before anything else.
_CATEGORY_ORDER = {"secret": 0, "pii": 1}


def label_of(finding: Finding) -> str:
    """The marker for a finding; a label that is not a marker is replaced, so every inserted piece
    of text is one the scanners are blind to."""
    label = finding.label or f"[{finding.category.upper()}]"
    return label if MARKER.fullmatch(label) else _FALLBACK


def marker_spans(text: str) -> list[tuple[int, int]]:
    if "[" not in text:
        return []
    return [m.span() for m in MARKER.finditer(text)]


def blank_markers(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The text with markers replaced by same-length runs of spaces, and the markers' spans."""
    spans = marker_spans(text)
    if not spans:
        return text, spans
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        parts.append(text[pos:start])
        parts.append(" " * (end - start))
        pos = end
    parts.append(text[pos:])
    return "".join(parts), spans


def inside_markers(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """Whether [start, end) lies wholly within marker text (nothing real left to mask)."""
    pos = start
    for s, e in spans:
        if e <= pos:
            continue
        if s > pos:
            return False
        pos = e
        if pos >= end:
            return True
    return pos >= end


def _priority(f: Finding) -> tuple[int, int, int]:
    return (_CATEGORY_ORDER.get(f.category, 9), -f.risk.rank, -(f.end - f.start))


def mask(text: str, findings: Iterable[Finding]) -> str:
    """Replace each finding's span by its marker; overlapping spans become one marker."""
    spans = sorted((f for f in findings if f.end > f.start), key=lambda f: (f.start, -f.end))
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    cluster: list[Finding] = []
    cluster_end = -1
    for f in spans:
        if cluster and f.start < cluster_end:
            cluster.append(f)
            cluster_end = max(cluster_end, f.end)
            continue
        if cluster:
            out.append(label_of(min(cluster, key=_priority)))
            pos = cluster_end
        out.append(text[pos : f.start])
        cluster, cluster_end = [f], f.end
    out.append(label_of(min(cluster, key=_priority)))
    out.append(text[cluster_end:])
    return "".join(out)


class Taken:
    """Non-overlapping spans already claimed by a check, with O(log n) overlap tests (a log with a
    thousand findings must not cost a million comparisons)."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect_right(self._starts, start)
        if i and self._ends[i - 1] > start:
            return True
        return i < len(self._starts) and self._starts[i] < end

    def add(self, start: int, end: int) -> None:
        i = bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
