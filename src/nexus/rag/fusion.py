"""Fusing the lexical and the vector ranking into one candidate list.

Reciprocal-rank fusion (Cormack et al. 2009) needs no score calibration; the learned reranker then sees
both raw scores as features. The constant and the per-retriever weights were chosen on SciFact train
queries (docs/rag.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Candidate:
    id: str
    file_id: str = ""
    lexical_rank: int | None = None
    lexical_score: float | None = None
    vector_rank: int | None = None
    vector_score: float | None = None
    fused: float = 0.0


def rrf(
    lexical: Sequence[tuple[str, float]],
    vector: Sequence[tuple[str, str, float]],
    *,
    k: int = 60,
    lexical_weight: float = 1.0,
    vector_weight: float = 1.0,
) -> list[Candidate]:
    """lexical: (id, score) best first; vector: (id, file_id, score) best first → fused, best first."""
    found: dict[str, Candidate] = {}
    for rank, (ident, score) in enumerate(lexical, start=1):
        cand = found.setdefault(ident, Candidate(ident))
        cand.lexical_rank, cand.lexical_score = rank, score
        cand.fused += lexical_weight / (k + rank)
    for rank, (ident, file_id, score) in enumerate(vector, start=1):
        cand = found.setdefault(ident, Candidate(ident))
        cand.file_id = file_id
        cand.vector_rank, cand.vector_score = rank, score
        cand.fused += vector_weight / (k + rank)
    return sorted(found.values(), key=lambda c: (-c.fused, c.id))
