"""SciFact (or any BEIR set) retrieval quality with k-fold cross-validation of the learned reranker.

    nice -n 10 python bench/bench_rag_cv.py [--data /work/shared/datasets/rag] [--folds 5] [--save PATH]

Indexes the corpus with the same code the service uses (Tantivy BM25 + MiniLM vectors, one chunk per
abstract at NEXUS_RAG_CHUNK_TOKENS=5000), runs every train query once, then for each fold trains the
LambdaMART reranker on the other folds and scores the held-out queries: nDCG@10 per fold for BM25 alone,
vectors alone, RRF fusion, and fusion + reranker. Corpus embeddings are cached in the Nexus cache dir.
--save trains one model on all queries and writes it (for NEXUS_RAG_RERANKER).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nexus.config.artifacts import cache_root  # noqa: E402
from nexus.embeddings.shared import get_embedder  # noqa: E402
from nexus.rag import beir  # noqa: E402
from nexus.rag.evaluation import doc_ranking, load_corpus, load_qrels, load_queries, ndcg_at, recall_at  # noqa: E402
from nexus.rag.ingest import ChunkingConfig  # noqa: E402
from nexus.rag.lexical.tantivy import TantivyIndex  # noqa: E402
from nexus.rag.rerank import train_reranker  # noqa: E402
from nexus.rag.retrieval import Hit, Retriever  # noqa: E402
from nexus.rag.vectors.embedded import EmbeddedVectorStore  # noqa: E402


def _progress(label: str, total: int):  # noqa: ANN202
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if done[0] == total or done[0] % max(1, total // 20) < n:
            print(f"  {label}: {done[0]}/{total}", file=sys.stderr, flush=True)

    return tick


def _doc_ndcg(hits: list[Hit], scores: np.ndarray | None, rel: dict[str, int]) -> float:
    order = np.argsort(-scores, kind="stable") if scores is not None else range(len(hits))
    return ndcg_at(doc_ranking([hits[i].chunk.file_id for i in order]), rel, 10)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("/work/shared/datasets/rag"))
    parser.add_argument("--prefix", default="scifact_")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    corpus = load_corpus(args.data / f"{args.prefix}corpus.jsonl")
    queries = load_queries(args.data / f"{args.prefix}train_queries.jsonl")
    qrels = load_qrels(args.data / f"{args.prefix}train_qrels.tsv")
    queries = {q: t for q, t in queries.items() if q in qrels}
    embedder = get_embedder()
    records = beir.corpus_records(corpus, ChunkingConfig(max_tokens=5000, overlap_tokens=0))
    print(
        f"{len(corpus)} documents, {len(records)} chunks, {len(queries)} queries; embedder {embedder.name}",
        flush=True,
    )
    t0 = time.perf_counter()
    matrix = beir.embed_cached(
        embedder, records, 64, cache_root() / "rag-eval", _progress("embed", len(records))
    )
    with tempfile.TemporaryDirectory() as tmp:
        lexical = TantivyIndex(Path(tmp) / "lexical")
        vectors = EmbeddedVectorStore(Path(tmp) / "vectors.db")
        await beir.index_corpus(records, matrix, lexical, vectors)
        print(f"indexed in {time.perf_counter() - t0:.1f} s", flush=True)
        retriever = Retriever(lexical, vectors, embedder)
        qids = sorted(queries)
        hits: dict[str, list[Hit]] = {}
        latencies: list[float] = []
        tick = _progress("queries", len(qids))
        for q in qids:
            start = time.perf_counter()
            hits[q] = await retriever.search(beir.TENANT, beir.COLLECTION, queries[q], args.depth)
            latencies.append((time.perf_counter() - start) * 1000)
            tick(1)
    ordered, feat_rows, label_rows = beir.training_data(queries, hits, qrels)
    feats = dict(zip(ordered, feat_rows, strict=True))
    labels = dict(zip(ordered, label_rows, strict=True))

    def single(q: str, key: str) -> float:
        ranked = sorted((h for h in hits[q] if getattr(h, key) is not None), key=lambda h: getattr(h, key))
        return ndcg_at(doc_ranking([h.chunk.file_id for h in ranked]), qrels[q], 10)

    rng = np.random.default_rng(13)
    order = rng.permutation(qids)
    folds = [set(order[i :: args.folds]) for i in range(args.folds)]
    rows = []
    for i, held in enumerate(folds):
        train = [q for q in qids if q not in held]
        model = train_reranker([feats[q] for q in train], [labels[q] for q in train])
        test = sorted(held)
        row = {
            "fold": i + 1,
            "queries": len(test),
            "bm25": float(np.mean([single(q, "lexical_rank") for q in test])),
            "vectors": float(np.mean([single(q, "vector_rank") for q in test])),
            "rrf": float(np.mean([_doc_ndcg(hits[q], None, qrels[q]) for q in test])),
            "reranked": float(np.mean([_doc_ndcg(hits[q], model.score(feats[q]), qrels[q]) for q in test])),
        }
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("bm25", "vectors", "rrf", "reranked")}
    recall = float(
        np.mean([recall_at(doc_ranking([h.chunk.file_id for h in hits[q]]), qrels[q], 100) for q in qids])
    )
    print(
        json.dumps(
            {
                "mean_over_folds": mean,
                "recall@100 (rrf)": round(recall, 4),
                "p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "p99_ms": round(float(np.percentile(latencies, 99)), 2),
            }
        )
    )
    if args.save:
        train_reranker([feats[q] for q in qids], [labels[q] for q in qids]).save(args.save)
        print(f"saved the reranker trained on all {len(qids)} queries to {args.save}")


if __name__ == "__main__":
    asyncio.run(main())
