"""Context compression: from the reranked chunks keep the sentences that bear on the question, within a
token budget. Sentences are scored by the share of the question's content words they contain (stems),
with a small prior for the chunk's rank; the best sentence of each top chunk goes in first, so no top
source is dropped entirely. The kept sentences stay exact slices of their chunk (citations check them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nexus.rag.text import TokenCounter, count_units, sentence_spans, terms
from nexus.rag.types import SearchHit


@dataclass(frozen=True, slots=True)
class Passage:
    n: int  # the source number the model cites as [n]
    hit: SearchHit
    # (start, end) of each kept sentence, relative to hit.text, in reading order.
    spans: tuple[tuple[int, int], ...]

    @property
    def text(self) -> str:
        parts: list[str] = []
        last_end = -1
        for start, end in self.spans:
            if parts and start > last_end + 1:
                parts.append("…")
            parts.append(self.hit.text[start:end])
            last_end = end
        return " ".join(parts)


def stems(text: str) -> set[str]:
    return {t[:5] if len(t) > 5 else t for t in terms(text)}


def compress(
    query: str,
    hits: Sequence[SearchHit],
    *,
    budget_tokens: int = 1200,
    count: TokenCounter = count_units,
    min_overlap: float = 0.15,
) -> list[Passage]:
    q = stems(query)
    scored: list[tuple[float, int, tuple[int, int], int]] = []  # score, hit index, span, tokens
    best_of: dict[int, tuple[float, tuple[int, int], int]] = {}
    for i, hit in enumerate(hits):
        prior = 0.1 * (1 - i / max(len(hits), 1))
        for span in sentence_spans(hit.text):
            sentence = hit.text[span[0] : span[1]]
            overlap = len(q & stems(sentence)) / max(len(q), 1)
            entry = (overlap + prior, i, span, count(sentence))
            scored.append(entry)
            if i not in best_of or entry[0] > best_of[i][0]:
                best_of[i] = (entry[0], span, entry[3])
    chosen: dict[int, set[tuple[int, int]]] = {}
    used = 0

    def take(i: int, span: tuple[int, int], tokens: int) -> None:
        nonlocal used
        if span in chosen.get(i, set()) or used + tokens > budget_tokens:
            return
        chosen.setdefault(i, set()).add(span)
        used += tokens

    for i in sorted(best_of)[:3]:
        score, span, tokens = best_of[i]
        if score - 0.1 >= min_overlap or i == 0:
            take(i, span, tokens)
    for score, i, span, tokens in sorted(scored, key=lambda e: -e[0]):
        if score - 0.1 * (1 - i / max(len(hits), 1)) < min_overlap:
            break
        take(i, span, tokens)
    passages: list[Passage] = []
    for i in sorted(chosen):
        passages.append(Passage(len(passages) + 1, hits[i], tuple(sorted(chosen[i]))))
    return passages
