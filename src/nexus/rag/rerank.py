"""Reranking. No cross-encoder weights can be installed offline here, so the reranker is a LambdaMART
model (LightGBM, lambdarank) over the features in `features.py`, trained on labelled queries
(`train_reranker`, e.g. SciFact train with k-fold cross-validation: bench/bench_rag_cv.py). Without a
trained model the fused order stands (`PassThrough`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nexus.rag.features import FEATURES


class Reranker(Protocol):
    name: str

    def score(self, features: np.ndarray) -> np.ndarray: ...


class PassThrough:
    """Keeps the fused order (scores = fused RRF)."""

    name = "none"

    def score(self, features: np.ndarray) -> np.ndarray:
        return features[:, FEATURES.index("fused")] if len(features) else np.zeros(0, dtype=np.float32)


class LambdaMartReranker:
    def __init__(self, booster: Any) -> None:
        self._booster = booster
        self.name = "lambdamart"

    def score(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self._booster.predict(features, num_threads=1), dtype=np.float32)

    def save(self, path: Path) -> None:
        payload = {"features": list(FEATURES), "model": self._booster.model_to_string()}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LambdaMartReranker:
        import lightgbm

        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("features") != list(FEATURES):
            raise ValueError(f"{path}: trained on other features; retrain it (nexus rag train-reranker)")
        return cls(lightgbm.Booster(model_str=payload["model"]))


DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "verbose": -1,
    "num_threads": 2,
    "seed": 7,
}


def train_reranker(
    groups: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    *,
    rounds: int = 300,
    params: dict[str, Any] | None = None,
) -> LambdaMartReranker:
    """groups[i]: the feature rows of query i's candidates; labels[i]: their graded relevance (0 = not)."""
    import lightgbm

    keep = [i for i, y in enumerate(labels) if len(y) and y.max() > 0]
    X = np.concatenate([groups[i] for i in keep])
    y = np.concatenate([labels[i] for i in keep])
    data = lightgbm.Dataset(X, y, group=[len(groups[i]) for i in keep], feature_name=list(FEATURES))
    booster = lightgbm.train({**DEFAULT_PARAMS, **(params or {})}, data, num_boost_round=rounds)
    return LambdaMartReranker(booster)
