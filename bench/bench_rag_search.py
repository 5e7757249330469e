"""Search latency at 100k chunks, and memory.

    nice -n 10 python bench/bench_rag_search.py [--chunks 100000] [--queries 200]

Builds a 100k-chunk collection: texts are sentences of the SciFact corpus recombined (so BM25 sees real
vocabulary and posting-list lengths), vectors are random unit vectors (exact search costs the same for
any values; embedding 100k chunks would take hours on 2 cores). Queries are SciFact train claims, embedded
for real by the configured embedder. Times the full `Retriever.search` (query embedding, BM25, vector
search, fusion, chunk hydration, reranking when a model is configured) and each store alone.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nexus.embeddings.shared import get_embedder  # noqa: E402
from nexus.rag.evaluation import load_corpus, load_queries, percentile  # noqa: E402
from nexus.rag.lexical.tantivy import TantivyIndex  # noqa: E402
from nexus.rag.records import ChunkRecord  # noqa: E402
from nexus.rag.retrieval import Retriever  # noqa: E402
from nexus.rag.text import sentence_spans  # noqa: E402
from nexus.rag.vectors import EmbeddedVectorStore, VectorRecord  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.2f} ms  p99 {percentile(values, 99):.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("/work/shared/datasets/rag"))
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    sentences = [
        d.text[s:e]
        for d in load_corpus(args.data / "scifact_corpus.jsonl")
        for s, e in sentence_spans(d.text)
    ]
    queries = list(load_queries(args.data / "scifact_train_queries.jsonl").values())[: args.queries]
    embedder = get_embedder()
    dim = embedder.embed(["warm up"]).shape[1]
    base_rss = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        lexical = TantivyIndex(Path(tmp) / "lexical")
        vectors = EmbeddedVectorStore(Path(tmp) / "vectors.db")
        t0 = time.perf_counter()
        for start in range(0, args.chunks, 10_000):
            n = min(10_000, args.chunks - start)
            records = []
            for i in range(start, start + n):
                picks = rng.integers(0, len(sentences), 7)
                text = " ".join(sentences[j] for j in picks)
                records.append(
                    ChunkRecord(f"f{i // 4}-{i % 4:05d}", f"f{i // 4}", i % 4, "", "", text, 0, len(text))
                )
            matrix = rng.standard_normal((n, dim)).astype(np.float32)
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
            await vectors.upsert(
                "t", "c", [VectorRecord(r.id, r.file_id, v) for r, v in zip(records, matrix, strict=True)]
            )
            await lexical.add("t", "c", records)
            print(
                f"  built {start + n} chunks ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True
            )
        retriever = Retriever(lexical, vectors, embedder)
        await retriever.search("t", "c", "warm up", 10)
        full, bm25, dense, embed = [], [], [], []
        for q in queries:
            t = time.perf_counter()
            await retriever.search("t", "c", q, 10)
            full.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            qv = embedder.embed([q + " (uncached)"])[0]
            embed.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            lexical.search_sync("t", "c", q, 100)
            bm25.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            vectors.search_sync("t", "c", qv, 100)
            dense.append((time.perf_counter() - t) * 1000)
        print(f"{args.chunks} chunks, {len(queries)} queries, embedder {embedder.name}")
        print(f"search (end to end)  {_pct(full)}")
        print(f"  query embedding    {_pct(embed)}")
        print(f"  BM25 (Tantivy)     {_pct(bm25)}")
        print(f"  vectors            {_pct(dense)}")
        print(
            f"peak RSS {_rss_mb():.0f} MB (before building: {base_rss:.0f} MB); vectors {args.chunks * dim * 4 / 2**20:.0f} MB float32"
        )
        await lexical.close()
        await vectors.close()


if __name__ == "__main__":
    asyncio.run(main())
