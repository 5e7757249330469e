"""The domain model: multinomial logistic regression on [embedding ‖ lexical features].

Training data ships in the package (data/*.jsonl). Training embeds ~5.5k prompts once (cached per
embedder under <data_dir>/router/), then fits in about a second; the weights are cached as
<data_dir>/router/classifier-<embedder>.npz. Inference is one matrix product in numpy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nexus.routing.base import Domain, Embedder
from nexus.routing.keywords import DOMAINS, lexical_features

DATA_DIR = Path(__file__).parent / "data"
# Realistic authored prompts count more than benchmark-shaped ones.
AUTHORED_WEIGHT = 4.0


@dataclass(frozen=True)
class Example:
    prompt: str
    domain: Domain
    source: str


def load_examples(files: Iterable[str] = ("llmrouter_train.jsonl", "authored.jsonl")) -> list[Example]:
    out: list[Example] = []
    for name in files:
        for line in (DATA_DIR / name).read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("domain"):
                out.append(Example(row["prompt"], row["domain"], row.get("source") or name.split(".")[0]))
    return out


def features(embedder: Embedder, texts: list[str], vectors: np.ndarray | None = None) -> np.ndarray:
    vectors = embedder.embed(texts) if vectors is None else vectors
    lexical = np.stack([lexical_features(t) for t in texts]) if texts else np.zeros((0, 12), np.float32)
    return np.hstack([vectors, lexical]).astype(np.float32)


@dataclass
class DomainModel:
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    classes: tuple[Domain, ...]
    embedder: str

    def proba(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            coef=self.coef,
            intercept=self.intercept,
            classes=np.array(self.classes),
            embedder=self.embedder,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DomainModel:
        with np.load(path) as f:
            return cls(f["coef"], f["intercept"], tuple(str(c) for c in f["classes"]), str(f["embedder"]))  # type: ignore[misc]


def fit(x: np.ndarray, y: list[str], weights: np.ndarray, embedder: str, c: float = 4.0) -> DomainModel:
    from sklearn.linear_model import LogisticRegression

    # Balance classes (knowledge dominates the benchmark data), on top of the per-sample weights.
    labels, counts = np.unique(y, return_counts=True)
    balance = {lab: len(y) / (len(labels) * n) for lab, n in zip(labels, counts, strict=True)}
    sample_weight = weights * np.array([balance[v] for v in y])
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x, y, sample_weight=sample_weight)
    return DomainModel(
        model.coef_.astype(np.float32), model.intercept_.astype(np.float32), tuple(model.classes_), embedder
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def embed_cached(embedder: Embedder, texts: list[str], cache_dir: Path) -> np.ndarray:
    """Embeddings of the training texts, cached on disk per embedder and text set."""
    digest = hashlib.sha1("\x00".join(texts).encode("utf-8")).hexdigest()[:12]
    path = cache_dir / f"train-emb-{_safe(embedder.name)}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = embedder.embed(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors


def train(embedder: Embedder, cache_dir: Path, examples: list[Example] | None = None) -> DomainModel:
    examples = examples if examples is not None else load_examples()
    texts = [e.prompt for e in examples]
    x = features(embedder, texts, embed_cached(embedder, texts, cache_dir))
    weights = np.array([AUTHORED_WEIGHT if e.source == "authored" else 1.0 for e in examples])
    return fit(x, [e.domain for e in examples], weights, embedder.name)


def model_path(cache_dir: Path, embedder: Embedder) -> Path:
    return cache_dir / f"classifier-{_safe(embedder.name)}.npz"


def load_or_train(embedder: Embedder, cache_dir: Path) -> DomainModel:
    path = model_path(cache_dir, embedder)
    if path.exists():
        model = DomainModel.load(path)
        if model.embedder == embedder.name and tuple(model.classes) == tuple(sorted(DOMAINS)):
            return model
    model = train(embedder, cache_dir)
    model.save(path)
    return model
