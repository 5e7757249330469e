"""`Classifier`: domain by a calibrated logistic model over embeddings and lexical features; flags,
complexity and subtasks by rules.

No LLM on the hot path. If the embedder (or the model) fails for any reason the keyword classifier
answers instead, with `method == "keywords"`. A calibrated top probability below the model's threshold
marks the result `uncertain`.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from nexus.config.settings import Settings
from nexus.routing.base import Classification, Domain, Embedder
from nexus.routing.classifier_model import DomainModel, features, load_or_train
from nexus.routing.flags import annotate
from nexus.routing.keywords import KeywordClassifier

log = logging.getLogger(__name__)

DomainResult = tuple[Domain, dict[str, float], bool]  # domain, probabilities, uncertain


class Classifier:
    def __init__(
        self,
        embedder: Embedder | None = None,
        settings: Settings | None = None,
        model: DomainModel | None = None,
    ) -> None:
        self._embedder = embedder
        self._settings = settings
        self._model = model
        self._lock = threading.Lock()
        self.keywords = KeywordClassifier()

    def _ready(self) -> tuple[Embedder, DomainModel]:
        if self._embedder is None or self._model is None:
            with self._lock:
                if self._embedder is None:
                    from nexus.embeddings.shared import get_routing_embedder

                    self._embedder = get_routing_embedder(self._settings)
                if self._model is None:
                    self._model = load_or_train(self._embedder)
        return self._embedder, self._model

    @property
    def embedder(self) -> Embedder | None:
        return self._embedder

    def warm_up(self) -> None:
        """Load the model and embedder now rather than on the first request."""
        self.classify("warm up")

    def domains(self, texts: list[str], vectors: np.ndarray | None = None) -> list[DomainResult]:
        """Domain, probabilities and the uncertain flag per text; `vectors` skips embedding (the router
        has already embedded the texts with the same embedder)."""
        embedder, model = self._ready()
        proba = model.proba(features(embedder, texts, vectors))
        best = np.argmax(proba, axis=1)
        return [
            (
                model.classes[int(b)],
                {c: round(float(p), 4) for c, p in zip(model.classes, row, strict=True)},
                bool(row[int(b)] < model.uncertain_below),
            )
            for b, row in zip(best, proba, strict=True)
        ]

    def classify(self, text: str, vector: np.ndarray | None = None) -> Classification:
        return self.classify_batch([text], None if vector is None else vector.reshape(1, -1))[0]

    def classify_batch(self, texts: list[str], vectors: np.ndarray | None = None) -> list[Classification]:
        if not texts:
            return []
        try:
            decided = self.domains(texts, vectors)
        except Exception as exc:  # the fallback must catch whatever a backend raises
            log.warning("embedding classifier failed, using keywords: %s", exc)
            return [self.keywords.classify(t) for t in texts]
        return [
            annotate(t, d, s, method="embedding", uncertain=u)
            for t, (d, s, u) in zip(texts, decided, strict=True)
        ]
