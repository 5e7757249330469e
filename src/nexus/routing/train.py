"""Retrain the shipped domain classifier: `python -m nexus.routing.train [--embedder-backend local]`.

Run after editing data/llmrouter_train.jsonl or data/authored.jsonl; it rewrites
data/classifier-<embedder>.npz (weights + embedder name + training-data hash). Commit the new file.
"""

from __future__ import annotations

import argparse
import time

from nexus.embeddings.shared import EmbeddingSettings, build_embedder
from nexus.routing.classifier_model import packaged_path, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder-backend", default="local", help="local | local-torch | hashing | openai")
    args = parser.parse_args(argv)
    embedder = build_embedder(conf=EmbeddingSettings(backend=args.embedder_backend))
    start = time.perf_counter()
    model = train(embedder)
    path = packaged_path(embedder.name)
    model.save(path)
    print(
        f"trained {embedder.name} on data {model.data_hash} in {time.perf_counter() - start:.1f} s → {path}"
    )


if __name__ == "__main__":
    main()
