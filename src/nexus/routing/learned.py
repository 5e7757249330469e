"""Learned quality router: predicts every model's expected score for a prompt from its embedding.

Small regressors compete by cross-validation and the winner is refitted on all rows. With `groups` (task
families) the folds hold out whole families, which is what predicts behaviour on unseen traffic (random
folds reward memorising a family's style; see `learned_eval.py`):
- ridge: one closed-form multi-output ridge regression on the embedding (+ bias);
- knn: similarity-weighted mean of the scores of the k most similar training prompts;
- blend: the mean of the two.
The criterion is the routed score (mean true score of the model each fold's predictions rank first), with
the mean squared error as tie-break, because ranking the models is what routing needs.
The artefact is a directory: weights.npz + meta.json (models, prices, embedder name, CV table).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nexus.routing.base import Embedder

Progress = Callable[[int, int], None]


class LearnedRouterError(ValueError):
    """The artefact directory is missing, unreadable or made by another embedder."""


@dataclass(frozen=True)
class Candidate:
    kind: str  # "ridge" | "knn" | "blend"
    alpha: float = 1.0
    k: int = 25

    @property
    def label(self) -> str:
        parts = {"ridge": f"ridge(alpha={self.alpha:g})", "knn": f"knn(k={self.k})"}
        return parts.get(self.kind, f"blend(alpha={self.alpha:g}, k={self.k})")


CANDIDATES = (
    *(Candidate("ridge", alpha=a) for a in (1.0, 10.0, 100.0)),
    *(Candidate("knn", k=k) for k in (10, 25, 50, 100)),
    Candidate("blend", alpha=10.0, k=25),
)


@dataclass
class LearnedRouter:
    models: list[str]
    candidate: Candidate
    embedder_name: str
    prices: dict[str, float] | None = None  # blended USD per Mtok
    weights: np.ndarray | None = None  # ridge: (dim + 1, n_models)
    train_x: np.ndarray | None = None  # knn: (n, dim)
    train_y: np.ndarray | None = None  # knn: (n, n_models)
    cv: list[dict[str, Any]] = field(default_factory=list)

    # -- fitting ------------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        models: list[str],
        *,
        embedder_name: str,
        prices: dict[str, float] | None = None,
        folds: int = 5,
        candidates: tuple[Candidate, ...] = CANDIDATES,
        seed: int = 0,
        groups: list[str] | None = None,
    ) -> LearnedRouter:
        """Choose a candidate by k-fold (or leave-one-group-out) CV, then refit it on all rows."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        table = (
            cross_validate(x, y, candidates, folds=folds, seed=seed, groups=groups)
            if len(candidates) > 1
            else []
        )
        best = (
            max(table, key=lambda r: (r["routed_score"], -r["mse"]))["candidate"] if table else candidates[0]
        )
        router = cls._fit_one(x, y, models, best, embedder_name, prices)
        router.cv = [{**r, "candidate": r["candidate"].label} for r in table]
        return router

    @classmethod
    def _fit_one(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        models: list[str],
        cand: Candidate,
        embedder_name: str,
        prices: dict[str, float] | None,
    ) -> LearnedRouter:
        router = cls(models=list(models), candidate=cand, embedder_name=embedder_name, prices=prices)
        if cand.kind in ("ridge", "blend"):
            router.weights = _ridge(x, y, cand.alpha)
        if cand.kind in ("knn", "blend"):
            router.train_x, router.train_y = x, y
        return router

    # -- prediction ---------------------------------------------------------------------------------
    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, dim) embeddings → (n, n_models) expected scores clipped to [0, 1]."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        parts = []
        if self.weights is not None:
            parts.append(np.hstack([x, np.ones((x.shape[0], 1), np.float32)]) @ self.weights)
        if self.train_x is not None and self.train_y is not None:
            parts.append(_knn_predict(self.train_x, self.train_y, x, self.candidate.k))
        return np.clip(np.mean(parts, axis=0), 0.0, 1.0).astype(np.float32)

    def predict_one(self, vec: np.ndarray) -> dict[str, float]:
        return dict(zip(self.models, self.predict(vec)[0].tolist(), strict=True))

    # -- persistence --------------------------------------------------------------------------------
    def save(self, directory: Path | str) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        arrays = {
            name: arr
            for name, arr in (("weights", self.weights), ("train_x", self.train_x), ("train_y", self.train_y))
            if arr is not None
        }
        np.savez_compressed(d / "weights.npz", **arrays)  # type: ignore[arg-type]
        meta = {
            "format": 1,
            "kind": self.candidate.kind,
            "alpha": self.candidate.alpha,
            "k": self.candidate.k,
            "models": self.models,
            "prices": self.prices,
            "embedder": self.embedder_name,
            "cv": self.cv,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (d / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return d

    @classmethod
    def load(cls, directory: Path | str) -> LearnedRouter:
        d = Path(directory)
        try:
            meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
            with np.load(d / "weights.npz") as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, json.JSONDecodeError, ValueError) as exc:
            raise LearnedRouterError(f"{d}: not a learned router artefact ({exc})") from None
        cand = Candidate(meta["kind"], alpha=float(meta.get("alpha", 1.0)), k=int(meta.get("k", 25)))
        return cls(
            models=list(meta["models"]),
            candidate=cand,
            embedder_name=str(meta["embedder"]),
            prices=meta.get("prices"),
            weights=arrays.get("weights"),
            train_x=arrays.get("train_x"),
            train_y=arrays.get("train_y"),
            cv=list(meta.get("cv", [])),
        )


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    xb = np.hstack([x, np.ones((x.shape[0], 1), np.float32)]).astype(np.float64)
    reg = alpha * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0  # never shrink the bias: it carries each model's base rate
    return np.linalg.solve(xb.T @ xb + reg, xb.T @ y.astype(np.float64)).astype(np.float32)


def _knn_predict(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((x.shape[0], train_y.shape[1]), dtype=np.float32)
    for start in range(0, x.shape[0], 512):  # bounded memory for the (batch, n_train) similarity block
        sims = x[start : start + 512] @ train_x.T
        kk = min(k, train_x.shape[0])
        idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        w = np.clip(np.take_along_axis(sims, idx, axis=1), 1e-3, None)
        out[start : start + 512] = np.einsum("bk,bkm->bm", w, train_y[idx]) / w.sum(axis=1, keepdims=True)
    return out


def fold_indices(n: int, folds: int, seed: int = 0, groups: list[str] | None = None) -> list[np.ndarray]:
    """Random folds, or one fold per group (leave-one-group-out) when groups are given."""
    if groups is not None:
        labels = np.asarray(groups)
        return [np.flatnonzero(labels == g) for g in sorted(set(groups))]
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::folds] for i in range(folds)]


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    candidates: tuple[Candidate, ...],
    *,
    folds: int = 5,
    seed: int = 0,
    groups: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Per candidate: out-of-fold MSE and routed score (mean true score of the top-predicted model)."""
    parts = fold_indices(x.shape[0], folds, seed, groups)
    table = []
    for cand in candidates:
        pred = np.empty_like(y)
        for i, test in enumerate(parts):
            train = np.concatenate([p for j, p in enumerate(parts) if j != i])
            model = LearnedRouter._fit_one(x[train], y[train], [], cand, "", None)
            pred[test] = model.predict(x[test])
        routed = float(y[np.arange(len(y)), pred.argmax(axis=1)].mean())
        table.append({"candidate": cand, "mse": float(((pred - y) ** 2).mean()), "routed_score": routed})
    return table


def out_of_fold_predictions(
    x: np.ndarray,
    y: np.ndarray,
    cand: Candidate,
    *,
    folds: int = 5,
    seed: int = 0,
    groups: list[str] | None = None,
) -> np.ndarray:
    """Predictions for every row from a model that never saw it (nor, with groups, its family)."""
    pred = np.empty_like(y)
    parts = fold_indices(x.shape[0], folds, seed, groups)
    for i, test in enumerate(parts):
        train = np.concatenate([p for j, p in enumerate(parts) if j != i])
        pred[test] = LearnedRouter._fit_one(x[train], y[train], [], cand, "", None).predict(x[test])
    return pred


# -- embedding cache ----------------------------------------------------------------------------------
def embed_cached(
    embedder: Embedder,
    texts: list[str],
    cache_dir: Path | None,
    *,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> np.ndarray:
    """Embed texts, reusing vectors cached per (embedder, text hash) in `cache_dir/<embedder>.npz`."""
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    cache_file = cache_dir / f"{_safe(embedder.name)}.npz" if cache_dir else None
    cached: dict[str, np.ndarray] = {}
    if cache_file and cache_file.exists():
        with np.load(cache_file) as npz:
            cached = dict(zip(npz["keys"].tolist(), npz["vectors"], strict=True))
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in cached}.items())
    done = len(texts) - len(missing)
    if progress:
        progress(done, len(texts))
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        vecs = embedder.embed([t for _, t in chunk])
        cached.update((k, v) for (k, _), v in zip(chunk, vecs, strict=True))
        done += len(chunk)
        if progress:
            progress(done, len(texts))
    if cache_file and missing:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        names = list(cached)
        np.savez(cache_file, keys=np.array(names), vectors=np.stack([cached[k] for k in names]))
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def learned_dir(data_dir: Path) -> Path:
    return data_dir / "router" / "learned"
