"""Learning from feedback, per tenant: a rated answer becomes evidence for (or against) the model that gave
it, for prompts like the rated one.

A `FeedbackModel` holds the rated prompts' vectors with (model, signed weight). For a new prompt its
nearest rated prompts (cosine ≥ `threshold`, at most `k`) add `weight · sign · similarity / n` to each
rated model's expected quality, n being the number of those neighbours but at least `min_evidence` (one
rating moves a model by half a quality point at most), so a few thumbs-down on one model for a kind of prompt move that kind of
prompt to another model and leave unrelated prompts alone.

`TenantModels` keeps, per tenant, the `candidate` (fitted by a retrain, consulted only when a decision
asks for it) and the `served` model (set by an explicit promotion). A tenant's models never touch another
tenant's decisions: the router looks them up by the decision's tenant.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Ratings at or above this score count as "up"; below, "down".
UP_AT = 0.5
# Defaults measured to move a decision after a handful of consistent ratings, not after one.
THRESHOLD = 0.6
K = 8
MIN_EVIDENCE = 3
# Above 1: consistent thumbs-down must outweigh even a certain domain prior (quality 1.0), else the
# disliked model only ties with models the tenant never rated.
WEIGHT = 1.5


@dataclass(frozen=True, slots=True)
class Rating:
    """One rated answer as the retrain reads it."""

    prompt: str
    model: str
    score: float  # 0 (down) … 1 (up)


class FeedbackModel:
    def __init__(
        self,
        vectors: np.ndarray,
        models: Sequence[str],
        signs: Sequence[float],
        *,
        threshold: float = THRESHOLD,
        k: int = K,
        weight: float = WEIGHT,
        embedder_name: str = "",
    ) -> None:
        self.vectors = np.asarray(vectors, dtype=np.float32).reshape(len(models), -1)
        self.models = list(models)
        self.signs = np.asarray(signs, dtype=np.float32)
        self.threshold, self.k, self.weight = threshold, k, weight
        self.embedder_name = embedder_name

    def __len__(self) -> int:
        return len(self.models)

    @classmethod
    def fit(
        cls,
        ratings: Sequence[Rating],
        vectors: np.ndarray,
        known_models: set[str] | None = None,
        **kwargs: Any,
    ) -> FeedbackModel:
        """One entry per rating of a known model; the sign is the score's distance from neutral (±1 at the
        extremes, so a 0.5 rating is no evidence either way)."""
        keep = [
            i for i, r in enumerate(ratings) if r.model and (known_models is None or r.model in known_models)
        ]
        signs = [2.0 * (ratings[i].score - UP_AT) for i in keep]
        vecs = np.asarray(vectors, dtype=np.float32)[keep] if keep else np.zeros((0, 1), np.float32)
        return cls(vecs, [ratings[i].model for i in keep], signs, **kwargs)

    def bonus(self, vector: np.ndarray) -> dict[str, float]:
        """Per model, what the nearest rated prompts add to its expected quality (empty when none is near)."""
        if not self.models:
            return {}
        sims = self.vectors @ np.asarray(vector, dtype=np.float32)
        near = np.flatnonzero(sims >= self.threshold)
        if near.size == 0:
            return {}
        near = near[np.argsort(-sims[near])][: self.k]
        n = max(len(near), MIN_EVIDENCE)
        out: dict[str, float] = {}
        for i in near:
            m = self.models[int(i)]
            out[m] = out.get(m, 0.0) + self.weight * float(self.signs[i]) * float(sims[i]) / n
        return out

    def adjust(self, quality: Mapping[str, float], vector: np.ndarray | None) -> dict[str, float]:
        if vector is None:
            return dict(quality)
        b = self.bonus(vector)
        return {m: q + b.get(m, 0.0) for m, q in quality.items()}

    # -- persistence (a JSON artefact in the store) ----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "vectors": base64.b64encode(self.vectors.astype(np.float32).tobytes()).decode(),
            "dim": int(self.vectors.shape[1]) if len(self.models) else 0,
            "models": self.models,
            "signs": [round(float(s), 4) for s in self.signs],
            "threshold": self.threshold,
            "k": self.k,
            "weight": self.weight,
            "embedder": self.embedder_name,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeedbackModel:
        models = list(data.get("models") or [])
        dim = int(data.get("dim") or 0)
        raw = base64.b64decode(data.get("vectors") or "")
        vecs = np.frombuffer(raw, dtype=np.float32).reshape(len(models), dim) if models else np.zeros((0, 1))
        return cls(
            vecs,
            models,
            list(data.get("signs") or []),
            threshold=float(data.get("threshold", THRESHOLD)),
            k=int(data.get("k", K)),
            weight=float(data.get("weight", WEIGHT)),
            embedder_name=str(data.get("embedder") or ""),
        )


class TenantModels:
    """Per tenant: the candidate (after a retrain) and the served model (after a promotion). Thread-safe."""

    def __init__(self) -> None:
        self._served: dict[str, FeedbackModel] = {}
        self._candidates: dict[str, FeedbackModel] = {}
        self._lock = threading.Lock()

    def get(self, tenant: str | None, *, candidate: bool = False) -> FeedbackModel | None:
        if tenant is None:
            return None
        with self._lock:
            if candidate:
                return self._candidates.get(tenant, self._served.get(tenant))
            return self._served.get(tenant)

    def set_candidate(self, tenant: str, model: FeedbackModel) -> None:
        with self._lock:
            self._candidates[tenant] = model

    def serve(self, tenant: str, model: FeedbackModel) -> None:
        with self._lock:
            self._served[tenant] = model
            self._candidates.pop(tenant, None)

    def tenants(self) -> list[str]:
        with self._lock:
            return sorted(self._served)
