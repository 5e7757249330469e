"""The domain model: multinomial logistic regression on [embedding ‖ lexical features], calibrated.

The trained weights for the default embedder ship in the package (data/classifier-<embedder>.npz, with the
embedder's name, the token budget, a hash of the training data, the calibration temperature and the
`uncertain` threshold), so a fresh data dir loads them in milliseconds. Regenerate them after editing the
training data: `python -m nexus.routing.train` (a test fails while the shipped hash and the data disagree).
Any other embedder trains once per user into the shared cache (`nexus.config.artifacts`), uncalibrated.
Inference is one matrix product in numpy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nexus.config.artifacts import cache_root, ensure_artifact
from nexus.embeddings.cache import embedder_key
from nexus.routing.base import Domain, Embedder
from nexus.routing.corpus import ALWAYS_TRAINED, DATA_DIR, TRAINING_FILES, Example, training_examples
from nexus.routing.features import lexical_matrix
from nexus.routing.keywords import DOMAINS

# Per-sample weights by kind of source: prompts written for Nexus (and their generated long twins) count
# more than benchmark rows, whose labels follow their benchmark more than our domains. Chosen by
# leave-one-source-out accuracy (docs/routing.md).
SOURCE_WEIGHTS = {"authored": 8.0, "multilingual": 8.0, "augmented": 4.0}
REAL_SHAPED_WEIGHT = 2.0
BENCHMARK_WEIGHT = 0.3
REGULARISATION_C = 2.0
# Lexical features are scaled up before fitting so that the same C regularises them less than the
# 384 small embedding coordinates; the scale is folded into the saved coefficients.
LEXICAL_SCALE = 3.0
# Calibrated top probability below which a classification is `uncertain` (when calibration ran).
DEFAULT_UNCERTAIN_BELOW = 0.45
RECIPE = "v2"


@dataclass
class DomainModel:
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    classes: tuple[Domain, ...]
    embedder: str
    data_hash: str = ""
    temperature: float = 1.0
    uncertain_below: float = DEFAULT_UNCERTAIN_BELOW

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef.T + self.intercept  # type: ignore[no-any-return]

    def proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.logits(x) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:  # a file object: np.savez would append ".npz" to a str path
            np.savez(
                handle,
                coef=self.coef,
                intercept=self.intercept,
                classes=np.array(self.classes),
                embedder=self.embedder,
                data_hash=self.data_hash,
                temperature=self.temperature,
                uncertain_below=self.uncertain_below,
            )

    @classmethod
    def load(cls, path: Path) -> DomainModel:
        with np.load(path) as f:
            classes = tuple(str(c) for c in f["classes"])
            extra = {name: float(f[name]) for name in ("temperature", "uncertain_below") if name in f.files}
            data_hash = str(f["data_hash"]) if "data_hash" in f.files else ""
            return cls(f["coef"], f["intercept"], classes, str(f["embedder"]), data_hash, **extra)  # type: ignore[arg-type]


def features(embedder: Embedder, texts: list[str], vectors: np.ndarray | None = None) -> np.ndarray:
    vectors = embedder.embed(texts) if vectors is None else vectors
    return np.hstack([vectors, lexical_matrix(texts)]).astype(np.float32)


def sample_weights(examples: Sequence[Example]) -> np.ndarray:
    from nexus.routing.corpus import LICENCES

    def weight(source: str) -> float:
        if source in SOURCE_WEIGHTS:
            return SOURCE_WEIGHTS[source]
        return BENCHMARK_WEIGHT if "LLMRouter" in LICENCES.get(source, "") else REAL_SHAPED_WEIGHT

    return np.array([weight(e.source) for e in examples], dtype=np.float64)


def fit(
    x: np.ndarray,
    y: Sequence[str],
    weights: np.ndarray,
    embedder: str,
    c: float = REGULARISATION_C,
    lexical_scale: float = LEXICAL_SCALE,
) -> DomainModel:
    from sklearn.linear_model import LogisticRegression

    dim = x.shape[1] - lexical_matrix([""]).shape[1]
    scale = np.ones(x.shape[1], dtype=np.float32)
    scale[dim:] = lexical_scale
    # Balance classes on top of the per-sample weights (knowledge dominates the benchmark data).
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    balance = {lab: len(y) / (len(labels) * n) for lab, n in zip(labels, counts, strict=True)}
    sample_weight = weights * np.array([balance[v] for v in y])
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(x * scale, list(y), sample_weight=sample_weight / sample_weight.mean())
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 1:  # two classes: sklearn keeps one row (the second class's logit vs the first)
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return DomainModel(
        (coef * scale).astype(np.float32),
        intercept.astype(np.float32),
        tuple(model.classes_),
        embedder,
    )


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of held-out predictions (a 1-D search)."""
    best, best_nll = 1.0, float("inf")
    for t in np.geomspace(0.2, 5.0, 81):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = float(-logp[np.arange(len(truth)), truth].mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def training_data_hash(files: Sequence[str] = TRAINING_FILES) -> str:
    from nexus.routing import augment, features, keywords

    recipe = (
        f"{RECIPE};w={sorted(SOURCE_WEIGHTS.items())};r={REAL_SHAPED_WEIGHT};b={BENCHMARK_WEIGHT};"
        f"c={REGULARISATION_C};ls={LEXICAL_SCALE}"
    )
    digest = hashlib.sha256(recipe.encode())
    for name in files:
        digest.update((DATA_DIR / name).read_bytes())
    # The generators and the feature code (keyword cues included) are part of what the weights learned.
    for module in (augment, features, keywords):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def embed_cached(embedder: Embedder, texts: list[str], cache_dir: Path | None = None) -> np.ndarray:
    """Embeddings of training texts, cached on disk per embedder, token budget and text (in ~/.cache)."""
    from nexus.routing.learned import embed_cached as cached_by_text

    directory = (cache_dir or cache_root()) / "embeddings" / _safe(embedder_key(embedder))
    return cached_by_text(embedder, texts, directory, batch_size=256)


def train(embedder: Embedder, examples: list[Example] | None = None) -> DomainModel:
    """Fit on every example (uncalibrated: `nexus.routing.train` calibrates the shipped weights)."""
    examples = examples if examples is not None else training_examples()
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
    path = (
        cache_root() / "classifier" / f"classifier-{_safe(embedder_key(embedder))}-{training_data_hash()}.npz"
    )
    ensure_artifact(path, lambda tmp: train(embedder).save(tmp))
    return DomainModel.load(path)


__all__ = ["ALWAYS_TRAINED", "DomainModel", "Example", "features", "fit", "load_or_train", "train"]
