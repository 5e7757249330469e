"""Retrain the shipped domain classifier: `python -m nexus.routing.train [--embedder-backend local]`.

Run after editing the packaged training data (data/*.jsonl listed in `corpus.TRAINING_FILES`), the
generators (`augment.py`) or the features (`features.py`). It fits leave-one-source-out once to calibrate
(temperature and the `uncertain` threshold from out-of-fold predictions), fits on everything, and rewrites
data/classifier-<embedder>.npz. Commit the new file. Only shippable sources are in the packaged data.
Embeddings are cached in NEXUS_CACHE_DIR (~/.cache/nexus), so a rerun costs the fits only (~1 min).
"""

from __future__ import annotations

import argparse
import json
import time

from rich.progress import Progress

from nexus.embeddings.shared import EmbeddingSettings, build_embedder, routing_view
from nexus.routing.classifier_eval import calibrate, leave_one_source_out
from nexus.routing.classifier_model import (
    embed_cached,
    features,
    fit,
    packaged_path,
    sample_weights,
    training_data_hash,
)
from nexus.routing.corpus import ALWAYS_TRAINED, training_examples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedder-backend", default="local", help="local | local-torch | hashing | openai")
    args = parser.parse_args(argv)
    embedder = routing_view(build_embedder(conf=EmbeddingSettings(backend=args.embedder_backend)))
    start = time.perf_counter()
    examples = training_examples()
    texts = [e.prompt for e in examples]
    held = {e.source for e in examples} - ALWAYS_TRAINED
    with Progress() as progress:
        task = progress.add_task("embedding, then leave-one-source-out", total=len(held) + 1)
        x = features(embedder, texts, embed_cached(embedder, texts))
        progress.advance(task)
        result = leave_one_source_out(
            x, examples, embedder=embedder.name, advance=lambda: progress.advance(task)
        )
    model = fit(x, [e.domain for e in examples], sample_weights(examples), embedder.name)
    figures = calibrate(model, result)
    model.data_hash = training_data_hash()
    path = packaged_path(embedder.name)
    model.save(path)
    print(json.dumps({"pooled_accuracy": round(result.pooled["accuracy"], 4), **figures}, indent=1))
    print(
        f"trained {embedder.name} on {len(examples)} prompts (data {model.data_hash}) "
        f"in {time.perf_counter() - start:.1f} s → {path}"
    )


if __name__ == "__main__":
    main()
