"""Prototype KNN: cosine against the prototypes (exact, or approximate above 20k), top-k vote by similarity.

Below the similarity threshold the nearest prototype is too far to mean anything: the vote abstains
and the caller uses its default model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nexus.routing.ann import exact_top_k
from nexus.routing.base import Neighbour
from nexus.routing.prototypes import Snapshot


@dataclass(frozen=True)
class KnnVote:
    neighbours: list[Neighbour]
    votes: dict[str, float] = field(default_factory=dict)  # vote share per model, sums to 1 (or empty)
    best_similarity: float = -1.0
    abstained: bool = True

    @property
    def winner(self) -> str | None:
        if self.abstained or not self.votes:
            return None
        return max(self.votes, key=lambda m: self.votes[m])


top_k = exact_top_k


def vote(snapshot: Snapshot, query: np.ndarray, k: int, threshold: float) -> KnnVote:
    """Similarity-weighted vote of the k nearest prototypes; abstains when the best is below threshold."""
    if len(snapshot) == 0:
        return KnnVote(neighbours=[])
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if snapshot.index is not None:
        idx, sims = snapshot.index.search(snapshot.matrix, q, k, snapshot.version)
    else:
        idx, sims = top_k(snapshot.matrix, q, k)
    neighbours = [
        Neighbour(
            model=snapshot.models[int(snapshot.labels[i])], prototype=snapshot.texts[i], similarity=float(s)
        )
        for i, s in zip(idx, sims, strict=True)
    ]
    best = float(sims[0])
    if best < threshold:
        return KnnVote(neighbours=neighbours, best_similarity=best, abstained=True)
    # Only neighbours that clear the threshold vote: a far neighbour should not dilute a close one.
    weights: dict[str, float] = {}
    for n in neighbours:
        if n.similarity >= threshold:
            weights[n.model] = weights.get(n.model, 0.0) + n.similarity
    total = sum(weights.values())
    votes = {m: w / total for m, w in weights.items()}
    return KnnVote(neighbours=neighbours, votes=votes, best_similarity=best, abstained=False)
