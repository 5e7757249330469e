"""Embedding + classification latency (single query, warm) and batched throughput. Prints; asserts nothing.

Run: .venv/bin/python bench/bench_embed_classify.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nexus.config.settings import Settings  # noqa: E402
from nexus.embeddings.shared import build_embedder  # noqa: E402
from nexus.routing.classifier import Classifier  # noqa: E402
from nexus.routing.corpus import load_packaged  # noqa: E402


def main() -> None:
    data_dir = Path(os.environ.get("NEXUS_DATA_DIR", tempfile.gettempdir() + "/nexus-bench"))
    settings = Settings(data_dir=data_dir)
    embedder = build_embedder(settings)
    classifier = Classifier(embedder=embedder, settings=settings)
    start = time.perf_counter()
    classifier.warm_up()
    print(f"cold start (load ONNX + shipped weights): {time.perf_counter() - start:.1f} s")
    prompts = [e.prompt for e in load_packaged(["authored_heldout.jsonl", "authored.jsonl"])]
    # Unique texts so the LRU cache never hits: these are uncached figures.
    queries = [f"{p} [{i}]" for i, p in enumerate(prompts * 3)][:600]

    for label, call in (("embed", lambda q: embedder.embed([q])), ("classify", classifier.classify)):
        timings = []
        for q in queries[:300] if label == "embed" else queries[300:]:
            t0 = time.perf_counter()
            call(q)
            timings.append((time.perf_counter() - t0) * 1000)
        print(
            f"{label:9s} single query: p50 {np.percentile(timings, 50):.2f} ms, p99 {np.percentile(timings, 99):.2f} ms"
        )

    batch = [f"{p} <{i}>" for i, p in enumerate(prompts * 4)]
    t0 = time.perf_counter()
    classifier.classify_batch(batch)
    elapsed = time.perf_counter() - t0
    print(f"classify_batch: {len(batch)} prompts in {elapsed:.2f} s = {len(batch) / elapsed:.0f} decisions/s")
    classifier.classify("What is the capital of France?")  # fills the cache
    t0 = time.perf_counter()
    classifier.classify("What is the capital of France?")
    print(f"cached repeat query: {(time.perf_counter() - t0) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
