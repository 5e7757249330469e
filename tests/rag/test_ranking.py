"""Fusion, the learned reranker (train, save, load), the metrics of `nexus rag eval`, chunking."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from nexus.rag.chunking import chunk_document
from nexus.rag.evaluation import ndcg_at, percentile, recall_at
from nexus.rag.features import FEATURES
from nexus.rag.fusion import rrf
from nexus.rag.parsing import parse
from nexus.rag.rerank import LambdaMartReranker, train_reranker


def test_rrf_rewards_agreement() -> None:
    fused = rrf(
        [("a", 9.0), ("b", 5.0), ("c", 1.0)], [("c", "f", 0.9), ("a", "f", 0.8), ("d", "f", 0.7)], k=60
    )
    assert [c.id for c in fused] == ["a", "c", "b", "d"]
    a = fused[0]
    assert (a.lexical_rank, a.vector_rank) == (1, 2)
    assert a.fused == pytest.approx(1 / 61 + 1 / 62)


def test_reranker_learns_a_signal_and_survives_save_and_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    groups, labels = [], []
    for _ in range(60):
        x = rng.random((20, len(FEATURES))).astype(np.float32)
        y = (x[:, FEATURES.index("coverage")] > 0.8).astype(np.float32)
        groups.append(x)
        labels.append(y)
    model = train_reranker(groups, labels, rounds=50)
    test = rng.random((50, len(FEATURES))).astype(np.float32)
    scores = model.score(test)
    top = np.argsort(-scores)[:5]
    assert (test[top, FEATURES.index("coverage")] > 0.8).all()

    path = tmp_path / "model.json"
    model.save(path)
    assert np.allclose(LambdaMartReranker.load(path).score(test), scores)
    payload = json.loads(path.read_text())
    payload["features"] = payload["features"][:-1]
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="retrain"):
        LambdaMartReranker.load(path)


def test_metrics() -> None:
    assert ndcg_at(["a", "x", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(
        (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    )
    assert ndcg_at(["x"], {"a": 1}, 10) == 0.0
    assert recall_at(["a", "x"], {"a": 1, "b": 1}, 100) == 0.5
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0


def test_chunks_respect_budget_sections_and_overlap() -> None:
    body = " ".join(f"Sentence {i} talks about topic {i}." for i in range(60))
    doc = parse(f"# Manual\n\n## Part A\n\n{body}\n\n## Part B\n\nShort tail.".encode(), "m.md")
    chunks = chunk_document(doc, max_tokens=60, overlap_tokens=15)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert chunks[-1].section == "Manual > Part B" and chunks[-1].text.startswith("Part B")
    part_a = [c for c in chunks if c.section == "Manual > Part A"]
    assert len(part_a) > 3 and all(c.tokens <= 60 + 15 for c in part_a)
    # Consecutive chunks of one section overlap by whole sentences.
    assert all(b.start < a.end for a, b in zip(part_a, part_a[1:], strict=False))
    assert chunks[0].text.startswith("Manual")
