"""Verified citations. The model cites sources as [n]; every cited claim is checked against the cited
chunk: the chunk must contain a sentence that carries the claim's content words (or, for a quoted
phrase, the phrase itself). A verified citation carries that sentence as its quote, with character
offsets into the source document. A claim whose citations fail, or a substantive claim with none, is
marked unsupported — never silently kept as if it were sourced."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from nexus.rag.compress import Passage, stems
from nexus.rag.text import normalise, sentence_spans

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_QUOTED = re.compile(r"[\"“]([^\"”]{8,})[\"”]")
# A claim shorter than this (in content words) is a connective ("In short:"), not something to source.
_MIN_CLAIM_TERMS = 3
SUPPORT_THRESHOLD = 0.6
NOT_FOUND = "NOT_IN_DOCUMENTS"
NO_ANSWER = "The documents do not contain an answer to this question."


@dataclass(frozen=True, slots=True)
class Citation:
    n: int
    file_id: str
    filename: str
    chunk_id: str
    page: int | None
    quote: str
    # Offsets of the quote in the source document's text.
    start: int
    end: int
    support: float


@dataclass(frozen=True, slots=True)
class Claim:
    text: str
    citations: tuple[Citation, ...]
    rejected: tuple[int, ...] = ()  # cited source numbers that do not support the claim

    @property
    def supported(self) -> bool:
        return bool(self.citations)


@dataclass(frozen=True, slots=True)
class VerifiedAnswer:
    text: str
    claims: tuple[Claim, ...]
    answerable: bool
    unsupported: tuple[str, ...] = field(default=())

    @property
    def citations(self) -> list[Citation]:
        seen: dict[tuple[int, str], Citation] = {}
        for claim in self.claims:
            for c in claim.citations:
                seen.setdefault((c.n, c.quote), c)
        return list(seen.values())


def _support(claim: str, passage: Passage) -> Citation | None:
    text = passage.hit.text
    quoted = _QUOTED.findall(claim)
    want = stems(claim)
    best: tuple[float, tuple[int, int]] | None = None
    for span in sentence_spans(text):
        sentence = text[span[0] : span[1]]
        if quoted and not all(normalise(q) in normalise(sentence) for q in quoted):
            continue
        score = len(want & stems(sentence)) / max(len(want), 1) if want else 1.0
        if best is None or score > best[0]:
            best = (score, span)
    if best is None or best[0] < SUPPORT_THRESHOLD:
        return None
    start, end = best[1]
    hit = passage.hit
    return Citation(
        n=passage.n,
        file_id=hit.file_id,
        filename=hit.filename,
        chunk_id=hit.chunk_id,
        page=hit.page,
        quote=text[start:end],
        start=hit.start + start,
        end=hit.start + end,
        support=round(best[0], 3),
    )


def verify(answer: str, passages: Sequence[Passage]) -> VerifiedAnswer:
    if NOT_FOUND in answer or not passages:
        return VerifiedAnswer(NO_ANSWER, (), answerable=False)
    by_n = {p.n: p for p in passages}
    claims: list[Claim] = []
    rendered: list[str] = []
    for start, end in sentence_spans(answer):
        sentence = answer[start:end]
        cited = [int(n) for group in _MARKER.findall(sentence) for n in group.split(",")]
        claim_text = _MARKER.sub("", sentence).strip()
        claim_text = re.sub(r"\s+([.,;:!?])", r"\1", claim_text)
        if not cited and len(stems(claim_text)) < _MIN_CLAIM_TERMS:
            rendered.append(claim_text)
            continue
        good: list[Citation] = []
        bad: list[int] = []
        for n in dict.fromkeys(cited):
            citation = _support(claim_text, by_n[n]) if n in by_n else None
            if citation is None:
                bad.append(n)
            else:
                good.append(citation)
        claims.append(Claim(claim_text, tuple(good), tuple(bad)))
        markers = "".join(f"[{c.n}]" for c in good)
        body = claim_text.rstrip()
        tail = ""
        if body and body[-1] in ".!?":
            body, tail = body[:-1], body[-1]
        rendered.append(f"{body} {markers}{tail}" if good else f"{body} [unsupported]{tail}")
    unsupported = tuple(c.text for c in claims if not c.supported)
    return VerifiedAnswer(" ".join(rendered), tuple(claims), answerable=True, unsupported=unsupported)
