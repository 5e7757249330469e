"""The domain model: multinomial logistic regression on [embedding ‖ lexical features].

The trained weights for the default embedder ship in the package (data/classifier-<embedder>.npz, with the
embedder's name and a hash of the training data), so a fresh data dir loads them in milliseconds.
Regenerate them after editing the training data: `python -m nexus.routing.train` (a test fails while the
shipped hash and the data disagree). Any other embedder trains once per user into the shared cache
(`nexus.config.artifacts`). Inference is one matrix product in numpy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nexus.config.artifacts import cache_root, ensure_artifact
from nexus.routing.base import Domain, Embedder
from nexus.routing.keywords import DOMAINS, lexical_features

DATA_DIR = Path(__file__).parent / "data"
TRAINING_FILES = ("llmrouter_train.jsonl", "authored.jsonl")
# Realistic authored prompts count far more than benchmark-shaped ones: benchmark labels follow their source
# (every mmlu prompt is "knowledge", commonsense_qa is the only "reasoning"), so they teach style more than
# domain. Weight 25 and C 0.5 were chosen by leave-one-source-out and the first held-out suite (see README).
AUTHORED_WEIGHT = 25.0
REGULARISATION_C = 0.5


@dataclass(frozen=True)
class Example:
    prompt: str
    domain: Domain
    source: str


def load_examples(files: Iterable[str] = TRAINING_FILES) -> list[Example]:
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
    data_hash: str = ""

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
            data_hash=self.data_hash,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DomainModel:
        with np.load(path) as f:
            classes = tuple(str(c) for c in f["classes"])
            data_hash = str(f["data_hash"]) if "data_hash" in f.files else ""
            return cls(f["coef"], f["intercept"], classes, str(f["embedder"]), data_hash)  # type: ignore[arg-type]


def fit(
    x: np.ndarray, y: list[str], weights: np.ndarray, embedder: str, c: float = REGULARISATION_C
) -> DomainModel:
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


def casual(prompt: str) -> str:
    """The same prompt as people often type it: lower case, no final punctuation, no apostrophes."""
    return re.sub(r"[?.!]+$", "", prompt.strip().lower()).replace("'", "")


def with_casual_copies(examples: list[Example]) -> list[Example]:
    # Authored prompts are tidy; users are not. A casual copy of each teaches the model to ignore case.
    return examples + [
        Example(casual(e.prompt), e.domain, e.source) for e in examples if e.source == "authored"
    ]


def sample_weights(examples: list[Example]) -> np.ndarray:
    return np.array([AUTHORED_WEIGHT if e.source == "authored" else 1.0 for e in examples])


def training_data_hash(files: Iterable[str] = TRAINING_FILES) -> str:
    digest = hashlib.sha256(f"weight={AUTHORED_WEIGHT};c={REGULARISATION_C};casual-v1".encode())
    for name in files:
        digest.update((DATA_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def embed_cached(embedder: Embedder, texts: list[str], cache_dir: Path | None = None) -> np.ndarray:
    """Embeddings of the training texts, cached on disk per embedder and text set."""
    digest = hashlib.sha1("\x00".join(texts).encode("utf-8")).hexdigest()[:12]
    path = (cache_dir or cache_root() / "classifier") / f"train-emb-{_safe(embedder.name)}-{digest}.npy"
    ensure_artifact(path, lambda tmp: _save_npy(tmp, embedder.embed(texts)))
    return np.load(path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a file object: np.save would append ".npy" to a str path
        np.save(handle, array)


def train(embedder: Embedder, examples: list[Example] | None = None) -> DomainModel:
    examples = with_casual_copies(examples if examples is not None else load_examples())
    texts = [e.prompt for e in examples]
    x = features(embedder, texts, embed_cached(embedder, texts))
    model = fit(x, [e.domain for e in examples], sample_weights(examples), embedder.name)
    model.data_hash = training_data_hash()
    return model


def packaged_path(embedder_name: str) -> Path:
    return DATA_DIR / f"classifier-{_safe(embedder_name)}.npz"


def _usable(model: DomainModel, embedder: Embedder) -> bool:
    return model.embedder == embedder.name and tuple(model.classes) == tuple(sorted(DOMAINS))


def load_or_train(embedder: Embedder) -> DomainModel:
    """The shipped weights when they were trained for this embedder; else train once into the cache."""
    shipped = packaged_path(embedder.name)
    if shipped.exists():
        model = DomainModel.load(shipped)
        if _usable(model, embedder):
            return model
    path = cache_root() / "classifier" / f"classifier-{_safe(embedder.name)}-{training_data_hash()}.npz"
    ensure_artifact(path, lambda tmp: train(embedder).save(tmp))
    return DomainModel.load(path)
