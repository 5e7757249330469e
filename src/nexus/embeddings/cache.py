"""An LRU cache of per-text embeddings around any embedder: repeated queries cost a dict lookup.

Long texts are keyed by a digest, so memory stays bounded (about `max_entries` × (512 B + dim × 4 B):
4096 entries of 384 floats ≈ 8 MB) whatever users paste.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from nexus.embeddings.base import Embedder

_LONG = 512


def _key(text: str) -> str:
    if len(text) <= _LONG:
        return text
    return "\x00" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class CachedEmbedder:
    def __init__(self, inner: Embedder, max_entries: int = 4096) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._max = max_entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        keys = [_key(t) for t in texts]
        with self._lock:
            for i, key in enumerate(keys):
                hit = self._cache.get(key)
                if hit is None:
                    missing.setdefault(key, []).append(i)
                else:
                    self._cache.move_to_end(key)
                    out[i] = hit
            self.hits += len(texts) - sum(len(v) for v in missing.values())
            self.misses += len(missing)
        if not missing:
            return out
        unique = list(missing)
        vectors = np.asarray(self.inner.embed([texts[missing[k][0]] for k in unique]), dtype=np.float32)
        with self._lock:
            for key, vector in zip(unique, vectors, strict=True):
                out[missing[key]] = vector
                self._cache[key] = vector
                if len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        return out

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def embedder_key(embedder: Embedder) -> str:
    """The embedder's name plus its token budget when it has one: vectors of long texts depend on both."""
    inner = getattr(embedder, "inner", embedder)
    budget = getattr(inner, "max_tokens", None)
    return f"{embedder.name}-{budget}t" if isinstance(budget, int) else embedder.name
