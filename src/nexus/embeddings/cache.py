"""An LRU cache of per-text embeddings around any embedder: repeated queries cost a dict lookup."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from nexus.embeddings.base import Embedder


class CachedEmbedder:
    def __init__(self, inner: Embedder, max_entries: int = 4096) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._max = max_entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if not missing:
            return out
        unique = list(missing)
        vectors = np.asarray(self.inner.embed(unique), dtype=np.float32)
        with self._lock:
            for text, vector in zip(unique, vectors, strict=True):
                out[missing[text]] = vector
                self._cache[text] = vector
                if len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        return out

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
