"""Structure-aware chunking: headings start chunks, paragraphs are kept whole when they fit, long ones are
cut at sentence ends, and a little overlap (whole sentences) carries context across cuts. Every chunk is
an exact slice of the document's text, so its offsets always point at what it says."""

from __future__ import annotations

from dataclasses import dataclass

from nexus.rag.parsing.document import ParsedDocument
from nexus.rag.text import TokenCounter, count_units, sentence_spans


@dataclass(frozen=True, slots=True)
class Chunk:
    seq: int
    text: str
    start: int
    end: int
    section: str
    page: int | None
    page_end: int | None
    tokens: int


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int
    page: int | None
    # A sentence of a cut paragraph (eligible for overlap); whole paragraphs are not repeated.
    sentence: bool
    heading: bool = False


def _split_long(text: str, start: int, page: int | None, budget: int, count: TokenCounter) -> list[_Unit]:
    units: list[_Unit] = []
    for s, e in sentence_spans(text):
        n = count(text[s:e])
        if n <= budget:
            units.append(_Unit(start + s, start + e, n, page, True))
            continue
        # One sentence over budget (a table row dump, a run-on list): cut at word boundaries.
        words = text[s:e].split(" ")
        pos = s
        piece: list[str] = []
        for word in words:
            piece.append(word)
            if count(" ".join(piece)) >= budget:
                end = pos + len(" ".join(piece))
                units.append(_Unit(start + pos, start + end, count(text[pos:end]), page, False))
                pos = end + 1
                piece = []
        if piece:
            units.append(_Unit(start + pos, start + e, count(text[pos:e]), page, False))
    return units


def chunk_document(
    doc: ParsedDocument,
    *,
    max_tokens: int = 200,
    overlap_tokens: int = 30,
    count: TokenCounter = count_units,
) -> list[Chunk]:
    full = doc.text
    offsets = doc.offsets()
    chunks: list[Chunk] = []
    headings: dict[int, str] = {}
    section = ""
    current: list[_Unit] = []
    used = 0

    def flush(keep_overlap: bool) -> None:
        nonlocal current, used
        if not current:
            return
        start, end = current[0].start, current[-1].end
        pages = [u.page for u in current if u.page is not None]
        chunks.append(
            Chunk(
                seq=len(chunks),
                text=full[start:end],
                start=start,
                end=end,
                section=section,
                page=min(pages) if pages else None,
                page_end=max(pages) if pages else None,
                tokens=sum(u.tokens for u in current),
            )
        )
        carry: list[_Unit] = []
        if keep_overlap:
            for unit in reversed(current):
                if not unit.sentence or sum(u.tokens for u in carry) + unit.tokens > overlap_tokens:
                    break
                carry.insert(0, unit)
            if len(carry) == len(current):  # never repeat a whole chunk
                carry = []
        current = carry
        used = sum(u.tokens for u in carry)

    for block, start in zip(doc.blocks, offsets, strict=True):
        n = count(block.text)
        # A page break ends a chunk, so a citation names one page.
        if current and block.page is not None and current[-1].page != block.page:
            flush(keep_overlap=False)
        if block.kind == "heading":
            flush(keep_overlap=False)
            headings = {lvl: t for lvl, t in headings.items() if lvl < block.level}
            headings[block.level] = block.text
            section = " > ".join(headings[lvl] for lvl in sorted(headings))
            units = [_Unit(start, start + len(block.text), n, block.page, False, heading=True)]
        elif n <= max_tokens:
            units = [_Unit(start, start + len(block.text), n, block.page, False)]
        else:
            units = _split_long(block.text, start, block.page, max_tokens, count)
        for unit in units:
            # A heading stays with the text under it even when the two overflow the budget.
            if current and used + unit.tokens > max_tokens and not all(u.heading for u in current):
                flush(keep_overlap=unit.sentence)
            current.append(unit)
            used += unit.tokens
    flush(keep_overlap=False)
    return chunks
