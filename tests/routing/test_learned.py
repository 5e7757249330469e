"""Learned quality router: fits per-model scores, round-trips to disk, and rejects bad data by line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nexus.routing.dataset import RoutingDataError, read_outcomes, read_prices, read_prompts
from nexus.routing.learned import Candidate, LearnedRouter, embed_cached


def _clusters(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clusters of unit vectors: model 'a' is right on cluster 0, model 'b' on cluster 1."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((2, 16), dtype=np.float32)
    centres[0, 0] = centres[1, 1] = 1.0
    which = np.arange(n) % 2
    x = centres[which] + 0.15 * rng.standard_normal((n, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.stack([(which == 0), (which == 1)], axis=1).astype(np.float32)
    return x, y


def test_fit_predicts_the_right_model_per_cluster(tmp_path: Path) -> None:
    x, y = _clusters()
    router = LearnedRouter.fit(x, y, ["a", "b"], embedder_name="test", prices={"a": 1.0, "b": 2.0})
    assert {row["candidate"] for row in router.cv} >= {"ridge(alpha=10)", "knn(k=25)"}
    assert all(row["routed_score"] > 0.95 for row in router.cv)
    pred = router.predict(x)
    assert pred.shape == (120, 2)
    assert (pred.argmax(axis=1) == y.argmax(axis=1)).mean() == 1.0
    assert pred.min() >= 0.0 and pred.max() <= 1.0
    one = router.predict_one(x[0])
    assert set(one) == {"a", "b"} and one["a"] > one["b"]

    router.save(tmp_path / "r")
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    assert (
        meta["models"] == ["a", "b"] and meta["embedder"] == "test" and meta["prices"] == {"a": 1.0, "b": 2.0}
    )
    loaded = LearnedRouter.load(tmp_path / "r")
    np.testing.assert_allclose(loaded.predict(x), pred, atol=1e-6)


@pytest.mark.parametrize("cand", [Candidate("ridge", alpha=1.0), Candidate("knn", k=5)])
def test_single_candidates_learn_base_rates(cand: Candidate) -> None:
    x, _ = _clusters()
    y = np.tile(np.array([[0.9, 0.2]], dtype=np.float32), (len(x), 1))
    router = LearnedRouter.fit(x, y, ["a", "b"], embedder_name="t", candidates=(cand,))
    assert router.cv == []  # one candidate: nothing to cross-validate
    np.testing.assert_allclose(router.predict(x[:3]), y[:3], atol=0.05)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "1", "prompt": "hi", "scores": {"a": 1, "b": 0.5}})


def test_read_outcomes_ok(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "d.jsonl",
        [GOOD, "", json.dumps({"id": 2, "prompt": "yo \u2028 there", "scores": {"b": 0, "a": 0.25}})],
    )
    data = read_outcomes(p)
    assert data.models == ["a", "b"]
    assert data.ids == ["1", "2"]
    np.testing.assert_allclose(data.scores, [[1.0, 0.5], [0.25, 0.0]])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"id": "2", "prompt": "x", "scores": ', r"d\.jsonl:2: not valid JSON"),
        (
            json.dumps({"id": "2", "prompt": "x", "scores": {"a": 1.5, "b": 0}}),
            r":2: score for 'a' must be a number in \[0, 1\]",
        ),
        (json.dumps({"id": "2", "prompt": "x", "scores": {"a": "high", "b": 0}}), r":2: score for 'a'"),
        (json.dumps({"id": "2", "prompt": "", "scores": {"a": 1, "b": 0}}), r":2: 'prompt' must be"),
        (
            json.dumps({"id": "2", "prompt": "x", "scores": {"a": 1, "c": 0}}),
            r":2: model ids differ from line 1; unexpected \['c'\]; missing \['b'\]",
        ),
        (json.dumps(["not", "an", "object"]), r":2: expected a JSON object"),
    ],
)
def test_read_outcomes_errors_name_the_line(tmp_path: Path, bad: str, message: str) -> None:
    p = _write(tmp_path / "d.jsonl", [GOOD, bad])
    with pytest.raises(RoutingDataError, match=message):
        read_outcomes(p)


def test_unknown_models_against_prices(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.jsonl", [GOOD])
    with pytest.raises(
        RoutingDataError, match=r"d\.jsonl:1: unknown model id 'b' \(not in the prices file\)"
    ):
        read_outcomes(p, known_models={"a"})
    with pytest.raises(RoutingDataError, match=r"prices file names model\(s\) \['z'\]"):
        read_outcomes(p, known_models={"a", "b", "z"})


def test_read_prices(tmp_path: Path) -> None:
    good = tmp_path / "p.json"
    good.write_text(
        json.dumps({"a": {"input_price_per_mtok": 1.0, "output_price_per_mtok": 5.0, "size": "7B"}})
    )
    assert read_prices(good) == {"a": pytest.approx(2.0)}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a": {"input_price_per_mtok": "cheap"}}))
    with pytest.raises(RoutingDataError, match="model 'a' needs numeric"):
        read_prices(bad)


def test_read_prompts(tmp_path: Path) -> None:
    p = _write(tmp_path / "in.jsonl", [GOOD, json.dumps({"id": "x", "prompt": "two"})])
    assert [(i.id, i.prompt) for i in read_prompts(p)] == [("1", "hi"), ("x", "two")]


class _Counting:
    name = "counting"
    dim = 4

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        out = np.zeros((len(texts), 4), dtype=np.float32)
        out[:, 0] = 1.0
        out[:, 1] = [len(t) for t in texts]
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_embed_cache_reuses_vectors(tmp_path: Path) -> None:
    emb = _Counting()
    progress: list[tuple[int, int]] = []
    first = embed_cached(emb, ["a", "bb", "a"], tmp_path, progress=lambda d, t: progress.append((d, t)))
    assert sorted(emb.seen) == ["a", "bb"]  # duplicates embedded once
    assert progress[-1] == (3, 3)
    second = embed_cached(_Counting(), ["bb", "a"], tmp_path)
    np.testing.assert_allclose(second, first[[1, 0]])
    assert (tmp_path / "counting.npz").exists()
