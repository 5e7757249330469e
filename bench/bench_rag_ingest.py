"""Ingestion throughput: SciFact abstracts through `RagService.add_file` (parse, chunk, embed, index,
status rows), and the embedder alone at fp32 vs int8 and two truncation lengths.

    nice -n 10 python bench/bench_rag_ingest.py [--docs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nexus.config.settings import Settings  # noqa: E402
from nexus.embeddings import MiniLMEmbedder  # noqa: E402
from nexus.rag.evaluation import load_corpus  # noqa: E402
from nexus.rag.factory import build_rag_service  # noqa: E402
from nexus.rag.jobs import LocalJobs  # noqa: E402
from nexus.store import TenantScope, open_store  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("/work/shared/datasets/rag"))
    parser.add_argument("--docs", type=int, default=300)
    args = parser.parse_args()
    docs = load_corpus(args.data / "scifact_corpus.jsonl")[: args.docs]
    texts = [f"{d.title}\n{d.text}" for d in docs]
    for precision in ("int8", "fp32"):
        for max_tokens in (256, 128):
            embedder = MiniLMEmbedder(precision=precision, max_tokens=max_tokens)
            embedder.embed(["warm up"])
            t = time.perf_counter()
            for i in range(0, len(texts), 64):
                embedder.embed(texts[i : i + 64])
            rate = len(texts) / (time.perf_counter() - t)
            print(
                f"embed only  {precision}  max_tokens={max_tokens}: {rate:.1f} abstracts/s",
                flush=True,
            )
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = await open_store(settings)
        embedder = MiniLMEmbedder()  # precision "auto": the start-up micro-benchmark chooses
        embedder.embed(["warm up"])
        rag = build_rag_service(settings, store, embedder, jobs=LocalJobs(concurrency=1))
        scope = TenantScope("bench")
        collection = await rag.create_collection(scope, "scifact")
        t = time.perf_counter()
        for d in docs:
            await rag.add_file(scope, collection.id, f"{d.title}\n\n{d.text}".encode(), f"{d.id}.txt")
        await rag.jobs.drain()  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - t
        files = await rag.list_files(scope, collection.id, limit=1000)
        done = sum(f.status == "completed" for f in files)
        print(
            f"end to end (RagService.add_file, {embedder.precision}, 256 tokens): {done} files in {elapsed:.1f} s = {done / elapsed:.1f} abstracts/s"
        )
        await rag.close()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
