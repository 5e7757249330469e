"""Prototype search: exact below the threshold, an IVF index above it that finds what exact search finds,
sees prototypes added after the build, and never serves rows a removal has replaced."""

from __future__ import annotations

import numpy as np
import pytest

from nexus.routing.ann import PrototypeIndex, exact_top_k

pytest.importorskip("faiss")


def _unit(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    # Clustered, like sentence embeddings of prototypes (uniform random vectors have no neighbourhoods).
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((30, dim))
    m = (centres[rng.integers(0, 30, n)] + 0.35 * rng.standard_normal((n, dim))).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_below_threshold_is_exact() -> None:
    index = PrototypeIndex(approximate_from=1000)
    m = _unit(200)
    idx, sims = index.search(m, m[7], 3)
    assert idx[0] == 7 and sims[0] == pytest.approx(1.0, abs=1e-5)
    assert index.kind(200) == "exact"


def test_ivf_agrees_with_exact_search() -> None:
    m = _unit(3000)
    index = PrototypeIndex(approximate_from=1000)
    index.prepare(m)
    assert index.kind(3000) == "ivf"
    queries = m[:50] + 0.05 * np.random.default_rng(1).standard_normal((50, 32)).astype(np.float32)
    recall = []
    for q in queries:
        q = q / np.linalg.norm(q)
        got, _ = index.search(m, q, 5)
        want, _ = exact_top_k(m, q, 5)
        recall.append(len(set(got.tolist()) & set(want.tolist())) / 5)
    assert float(np.mean(recall)) >= 0.9


def test_rows_added_after_the_build_are_found() -> None:
    m = _unit(2200)
    index = PrototypeIndex(approximate_from=1000)
    index.prepare(m[:2000])
    idx, _ = index.search(m, m[2100], 3)  # row 2100 is not in the index: the exact tail finds it
    assert idx[0] == 2100


def test_a_removal_switches_to_exact_until_rebuilt() -> None:
    m = _unit(2000)
    index = PrototypeIndex(approximate_from=1000)
    index.prepare(m, version=0)
    shifted = np.delete(m, 0, axis=0)  # row numbers moved: the old index would point at wrong rows
    idx, _ = index.search(shifted, shifted[10], 1, version=1)
    assert idx[0] == 10
