"""Top-k prototype search: exact (one matrix product) below `APPROXIMATE_FROM` rows, an inverted-file
index (faiss IVF-Flat, inner product) above.

Exact search costs O(n·dim) per query: about 4 ms at 100k × 384 on one core before `argpartition`, and
it grows linearly. IVF probes a sixteenth of `nlist ≈ 4·√n` clusters, so a query touches a few thousand rows.
The index covers the first `indexed` rows of the prototype matrix; rows appended after it was built are
searched exactly and merged, so a freshly added prototype is found at once. The index is rebuilt (a new
object, swapped in: searches never see a half-built one) when that unindexed tail grows past a tenth of
the index, or after a removal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

APPROXIMATE_FROM = 20_000
# Share of the clusters each query probes (at least 8): ~6 %, so 100k prototypes cost ~6k dot products.
PROBE_SHARE = 1 / 16


def exact_top_k(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and cosine similarities of the k nearest rows, best first (rows and query normalised)."""
    sims = matrix @ query
    k = min(k, sims.shape[0])
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = np.argpartition(-sims, k - 1)[:k] if k < sims.shape[0] else np.arange(sims.shape[0])
    order = np.argsort(-sims[idx])
    return idx[order], sims[idx[order]]


@dataclass(frozen=True)
class _Built:
    index: Any  # faiss.IndexIVFFlat
    rows: int  # the first `rows` rows of the matrix are in the index
    version: int  # the prototype store's row version it was built from (a removal bumps it)


class PrototypeIndex:
    """Chooses exact or approximate search per call from the snapshot's size.

    Searches never build: a stale or missing index is rebuilt on a background thread while searches
    stay exact, then swapped in. `prepare()` builds synchronously (start-up, benchmarks).
    """

    def __init__(self, approximate_from: int = APPROXIMATE_FROM, probe_share: float = PROBE_SHARE) -> None:
        self.approximate_from = approximate_from
        self.probe_share = probe_share
        self._built: _Built | None = None
        self._lock = threading.Lock()
        self._building = False
        self.builds = 0

    def kind(self, rows: int) -> str:
        return "ivf" if rows >= self.approximate_from and self._built is not None else "exact"

    def search(
        self, matrix: np.ndarray, query: np.ndarray, k: int, version: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        n = matrix.shape[0]
        if n < self.approximate_from:
            return exact_top_k(matrix, query, k)
        built = self._built
        if built is None or built.version != version or built.rows > n or n - built.rows > built.rows // 10:
            self._start_build(matrix, version)
        if built is None or built.version != version or built.rows > n:
            return exact_top_k(matrix, query, k)
        sims, idx = built.index.search(query.reshape(1, -1).astype(np.float32, copy=False), k)
        found = idx[0] >= 0
        idx_a, sims_a = idx[0][found].astype(np.int64), sims[0][found]
        if built.rows < n:  # prototypes added since the build: searched exactly, then merged
            tail_idx, tail_sims = exact_top_k(matrix[built.rows :], query, k)
            idx_a = np.concatenate([idx_a, tail_idx + built.rows])
            sims_a = np.concatenate([sims_a, tail_sims])
            order = np.argsort(-sims_a)[:k]
            idx_a, sims_a = idx_a[order], sims_a[order]
        return idx_a, sims_a.astype(np.float32)

    def prepare(self, matrix: np.ndarray, version: int = 0) -> None:
        """Build now, in this thread (no-op below the threshold or without faiss)."""
        if matrix.shape[0] >= self.approximate_from:
            self._build(matrix, version)

    def _start_build(self, matrix: np.ndarray, version: int) -> None:
        with self._lock:
            if self._building:
                return
            self._building = True
        threading.Thread(target=self._build, args=(matrix, version, True), daemon=True).start()

    def _build(self, matrix: np.ndarray, version: int, claimed: bool = False) -> None:
        try:
            self._built = _Built(build_ivf(matrix, self.probe_share), matrix.shape[0], version)
            self.builds += 1
        except ImportError:  # faiss not installed: exact search, always
            self.approximate_from = 1 << 62
        finally:
            if claimed:
                with self._lock:
                    self._building = False


def build_ivf(matrix: np.ndarray, probe_share: float = PROBE_SHARE) -> Any:
    import faiss

    n, dim = matrix.shape
    nlist = max(16, int(4 * np.sqrt(n)))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    data = np.ascontiguousarray(matrix, dtype=np.float32)
    rng = np.random.default_rng(0)
    sample = data[rng.choice(n, size=min(n, nlist * 40), replace=False)]
    index.train(sample)
    index.add(data)
    index.nprobe = max(8, int(nlist * probe_share))
    return index
