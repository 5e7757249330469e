"""Prototype store and KNN vote: nearest prototypes win, far ones abstain, run-time edits apply at once."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from nexus.config.catalogue import parse_catalogue
from nexus.embeddings import HashingEmbedder
from nexus.routing.knn import top_k, vote
from nexus.routing.prototypes import PrototypeError, PrototypeStore

CATALOGUE = """
models:
  - {id: coder, provider: demo, model: c, input_price_per_mtok: 1, output_price_per_mtok: 3, context_window: 1000,
     prototypes: ["write a python function to sort a list", "fix this python bug in my function"]}
  - {id: mathy, provider: demo, model: m, input_price_per_mtok: 1, output_price_per_mtok: 1, context_window: 1000,
     prototypes: ["solve the equation for x", "compute the integral of x squared"]}
  - {id: chat, provider: demo, model: h, input_price_per_mtok: 0.1, output_price_per_mtok: 0.1, context_window: 1000,
     prototypes: ["hello how are you"]}
roles: {default: chat}
"""


@pytest.fixture()
def store(tmp_path: Path) -> PrototypeStore:
    return PrototypeStore.from_catalogue(parse_catalogue(CATALOGUE), HashingEmbedder(), tmp_path / "p.json")


def _q(text: str) -> np.ndarray:
    return HashingEmbedder().embed([text])[0]


def test_top_k_returns_best_first() -> None:
    m = np.eye(4, dtype=np.float32)
    q = np.array([0.1, 0.9, 0.5, 0.0], dtype=np.float32)
    idx, sims = top_k(m, q, 2)
    assert idx.tolist() == [1, 2]
    assert sims.tolist() == pytest.approx([0.9, 0.5])
    idx_all, _ = top_k(m, q, 10)  # k larger than the matrix
    assert idx_all.tolist() == [1, 2, 0, 3]


def test_vote_prefers_nearest_model(store: PrototypeStore) -> None:
    v = vote(store.snapshot(), _q("write a python function to reverse a list"), k=3, threshold=0.2)
    assert not v.abstained
    assert v.winner == "coder"
    assert v.neighbours[0].model == "coder"
    assert v.neighbours[0].similarity == pytest.approx(v.best_similarity)
    assert sum(v.votes.values()) == pytest.approx(1.0)


def test_vote_abstains_below_threshold(store: PrototypeStore) -> None:
    v = vote(store.snapshot(), _q("zebra quantum marmalade"), k=3, threshold=0.3)
    assert v.abstained
    assert v.winner is None
    assert v.votes == {}
    assert len(v.neighbours) == 3  # the evidence is still reported


def test_runtime_add_and_remove_change_the_vote(store: PrototypeStore, tmp_path: Path) -> None:
    q = _q("translate this poem into french")
    assert vote(store.snapshot(), q, k=3, threshold=0.5).abstained
    store.add("mathy", "translate this poem into french please")
    assert vote(store.snapshot(), q, k=3, threshold=0.5).winner == "mathy"
    # Persisted: a fresh store (a restart) sees the addition.
    again = PrototypeStore.from_catalogue(parse_catalogue(CATALOGUE), HashingEmbedder(), tmp_path / "p.json")
    assert ("mathy", "translate this poem into french please") in again.entries("mathy")
    again.remove("mathy", "translate this poem into french please")
    assert vote(again.snapshot(), q, k=3, threshold=0.5).abstained


def test_removing_a_catalogue_prototype_persists(store: PrototypeStore, tmp_path: Path) -> None:
    removed = store.remove("chat", index=0)
    assert removed == "hello how are you"
    assert store.count("chat") == 0
    again = PrototypeStore.from_catalogue(parse_catalogue(CATALOGUE), HashingEmbedder(), tmp_path / "p.json")
    assert again.count("chat") == 0
    again.add("chat", "hello how are you")  # re-adding cancels the removal instead of duplicating
    third = PrototypeStore.from_catalogue(parse_catalogue(CATALOGUE), HashingEmbedder(), tmp_path / "p.json")
    assert third.entries("chat") == [("chat", "hello how are you")]


def test_errors_name_the_problem(store: PrototypeStore) -> None:
    with pytest.raises(PrototypeError, match="unknown model id 'nope'"):
        store.add("nope", "x")
    with pytest.raises(PrototypeError, match="no prototype"):
        store.remove("coder", "not there")
    with pytest.raises(PrototypeError, match="#9"):
        store.remove("coder", index=9)
    with pytest.raises(PrototypeError, match="empty"):
        store.add("coder", "   ")


def test_concurrent_adds_and_reads_stay_consistent(store: PrototypeStore) -> None:
    base = len(store.snapshot())
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        for i in range(40):
            store.add_many([("coder", f"writer {n} prototype {i}")], persist=False)

    def reader() -> None:
        try:
            for _ in range(200):
                snap = store.snapshot()
                assert snap.matrix.shape[0] == snap.labels.shape[0] == len(snap) <= len(snap.texts)
                vote(snap, _q("python"), k=5, threshold=0.0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)] + [
        threading.Thread(target=reader)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.snapshot()) == base + 120
