"""Routing decision latency: single warm decisions (embed + classify + KNN + policy), batched throughput,
and the KNN search with 100k prototypes. Prints figures; asserts nothing.
Run: python bench/bench_routing_latency.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nexus.config import Settings, load_catalogue
from nexus.routing import knn
from nexus.routing.router import Router

QUERIES = [
    "Write a Python function that merges two sorted lists",
    "What is the integral of x^2 from 0 to 3?",
    "hi, how's it going?",
    "Who painted the Sistine Chapel ceiling?",
    "Draft a friendly email reminding my team about Friday's deadline",
    "Should I pay off my mortgage early or invest?",
    "If some cats are dogs and all dogs are birds, are some cats birds?",
    "Refactor this Java class to use dependency injection",
]


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        router = Router.from_catalogue(load_catalogue(), Settings(data_dir=Path(tmp)))
        print(
            f"embedder {router.embedder.name if router.embedder else None}; classifier "
            f"{type(router.classifier).__name__ if router.classifier else None}"
        )
        for q in QUERIES:  # warm-up: model load, caches
            router.decide(q)
        # Distinct texts each time so the embedder's query cache does not hide the embedding cost.
        lat = []
        for i in range(300):
            t0 = time.perf_counter()
            router.decide(f"{QUERIES[i % len(QUERIES)]} (variant {i})")
            lat.append((time.perf_counter() - t0) * 1000)
        print(f"single decision, warm (uncached text): p50 {pct(lat, 50):.2f} ms  p99 {pct(lat, 99):.2f} ms")
        cached = []
        for i in range(300):
            t0 = time.perf_counter()
            router.decide(QUERIES[i % len(QUERIES)])
            cached.append((time.perf_counter() - t0) * 1000)
        print(
            f"single decision, repeated text (embedding cached): p50 {pct(cached, 50):.2f} ms  "
            f"p99 {pct(cached, 99):.2f} ms"
        )
        batch = [f"{QUERIES[i % len(QUERIES)]} [batch {i}]" for i in range(512)]
        t0 = time.perf_counter()
        router.decide_many(batch)
        print(f"batched decide_many(512): {512 / (time.perf_counter() - t0):.0f} decisions/s")

        # 100k prototypes: random unit vectors (the search cost does not depend on their content).
        assert router.prototypes is not None
        rng = np.random.default_rng(0)
        n, dim = 100_000, router.prototypes.snapshot().matrix.shape[1]
        vecs = rng.standard_normal((n, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        t0 = time.perf_counter()
        router.prototypes.add_many(
            [("kimi-k2", f"synthetic {i}") for i in range(n)], vectors=vecs, persist=False
        )
        print(
            f"bulk-added {n} prototypes in {time.perf_counter() - t0:.2f}s (total {len(router.prototypes.snapshot())})"
        )
        qv = router.embedder.embed(QUERIES) if router.embedder else vecs[:8]
        search = []
        for i in range(300):
            t0 = time.perf_counter()
            knn.vote(router.prototypes.snapshot(), qv[i % len(qv)], 5, 0.35)
            search.append((time.perf_counter() - t0) * 1000)
        print(
            f"KNN vote over {len(router.prototypes.snapshot())} prototypes: p50 {pct(search, 50):.2f} ms  "
            f"p99 {pct(search, 99):.2f} ms"
        )
        full = []
        for i in range(200):
            t0 = time.perf_counter()
            router.decide(f"{QUERIES[i % len(QUERIES)]} (big {i})")
            full.append((time.perf_counter() - t0) * 1000)
        print(f"full decision with 100k prototypes: p50 {pct(full, 50):.2f} ms  p99 {pct(full, 99):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
