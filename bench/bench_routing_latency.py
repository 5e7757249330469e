"""Routing decision latency and throughput. Prints figures; asserts nothing.

1. `/route` over HTTP against a real `nexus serve --demo --no-ui` process: one client, real prompts up to
   20,000 characters (unique texts: the embedding cache never hides the cost), p50/p99 per length bucket.
2. Throughput at concurrency 32 over HTTP, and in-process (`Router.adecide`, micro-batched).
3. 100k prototypes: decision latency with the approximate index, and its recall against exact search.
4. The semantic cache (`--only-cache`): lookup time on the embedded store (SQLite) for exact hits,
   paraphrase hits and misses, with the tenant's table filled; what a hit adds to a turn.

Run: python bench/bench_routing_latency.py [--skip-http] [--requests N]
Prompts: the authored suites, plus shared/datasets real-shaped prompts when present (NEXUS_DATASETS_DIR),
plus generated code dumps of 6k and 20k characters.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BUCKETS = ((0, 200), (200, 2000), (2000, 8000), (8000, 10**6))
DATASETS = Path(os.environ.get("NEXUS_DATASETS_DIR", "/work/shared/datasets"))


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p)) if xs else float("nan")


def prompts(n: int, seed: int = 0) -> list[str]:
    from nexus.routing.augment import code_dump
    from nexus.routing.corpus import HELDOUT_FILES, load_packaged, load_real_shaped

    pool = [e.prompt for e in load_packaged(HELDOUT_FILES)]
    real = DATASETS / "domains" / "real_shaped_train.jsonl"
    if real.exists():
        pool += [e.prompt for e in load_real_shaped(real) if len(e.prompt) <= 20000]
    rng = random.Random(seed)
    out = rng.sample(pool, min(n, len(pool)))
    out += [code_dump(rng, size) for size in (6000, 20000) for _ in range(max(4, n // 40))]
    rng.shuffle(out)
    # Unique texts: a suffix changes the tail tokens, so every request pays the embedding.
    return [f"{p}\n#{i}" for i, p in enumerate(out)]


def by_bucket(texts: list[str], timings: list[float]) -> None:
    print(f"  all {len(timings)}: p50 {pct(timings, 50):.2f} ms  p99 {pct(timings, 99):.2f} ms")
    for lo, hi in BUCKETS:
        sel = [t for p, t in zip(texts, timings, strict=True) if lo <= len(p) < hi]
        if sel:
            print(
                f"  {lo:>5}–{hi - 1:<5} chars ({len(sel):4d}): p50 {pct(sel, 50):6.2f} ms  p99 {pct(sel, 99):6.2f} ms"
            )


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    from nexus.testing.gateway import free_port

    port = free_port()
    # Auth off: the figure is the routing decision plus HTTP, not key verification.
    env = {**os.environ, "NEXUS_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "NEXUS_AUTH": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus.cli.main", "serve", "--demo", "--no-ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("server did not start")


def http_bench(texts: list[str], requests: int) -> None:
    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(Path(tmp))
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                for t in ("warm up", "def f(): pass\nwhy?", "hello"):
                    client.post("/route", json={"message": t}).raise_for_status()
                timings = []
                for text in texts:
                    t0 = time.perf_counter()
                    client.post("/route", json={"message": text}).raise_for_status()
                    timings.append((time.perf_counter() - t0) * 1000)
            print(f"\n/route over HTTP, one client, {len(texts)} real prompts (round trip):")
            by_bucket(texts, timings)
            asyncio.run(http_concurrency(base, texts, requests, 32))
        finally:
            proc.terminate()
            proc.wait(timeout=20)


async def http_concurrency(base: str, texts: list[str], requests: int, concurrency: int) -> None:
    import httpx

    short = [t for t in texts if len(t) < 2000]
    todo = [f"{short[i % len(short)]} [{i}]" for i in range(requests)]
    timings: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker(items: list[str]) -> None:
            nonlocal errors
            for text in items:
                t0 = time.perf_counter()
                r = await client.post("/route", json={"message": text})
                timings.append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(todo[i::concurrency]) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    print(
        f"\n/route over HTTP at concurrency {concurrency}: {requests / elapsed:.0f} decisions/s "
        f"(p50 {pct(timings, 50):.1f} ms, p99 {pct(timings, 99):.1f} ms, {errors} non-200)"
    )


def in_process(texts: list[str], requests: int) -> None:
    from nexus.config import Settings, load_catalogue
    from nexus.routing.router import Router

    with tempfile.TemporaryDirectory() as tmp:
        router = Router.from_catalogue(load_catalogue(), Settings(data_dir=Path(tmp)))
        router.decide("warm up")
        emb = router.embedder
        inner = getattr(emb, "inner", emb)
        print(
            f"\nembedder {getattr(emb, 'name', None)}: precision {getattr(inner, 'precision', '?')}, "
            f"threads {getattr(inner, 'threads', '?')}, budget {getattr(inner, 'max_tokens', '?')} tokens; "
            f"start-up micro-benchmark {getattr(inner, 'precision_timings_ms', {})}"
        )
        timings = []
        for text in texts:
            t0 = time.perf_counter()
            router.decide(text + " (in-process)")
            timings.append((time.perf_counter() - t0) * 1000)
        print("in-process Router.decide, one caller:")
        by_bucket(texts, timings)
        cached = []
        for text in texts[:200]:
            t0 = time.perf_counter()
            router.decide(text + " (in-process)")
            cached.append((time.perf_counter() - t0) * 1000)
        print(f"  repeated prompt (LRU hit): p50 {pct(cached, 50):.2f} ms  p99 {pct(cached, 99):.2f} ms")

        short = [t for t in texts if len(t) < 2000]

        async def run(concurrency: int) -> None:
            todo = [f"{short[i % len(short)]} <{concurrency}:{i}>" for i in range(requests)]
            sem = asyncio.Semaphore(concurrency)

            async def one(text: str) -> None:
                async with sem:
                    await router.adecide(text)

            before = (router.batcher.batches, router.batcher.items) if router.batcher else (0, 0)
            t0 = time.perf_counter()
            await asyncio.gather(*(one(t) for t in todo))
            rate = requests / (time.perf_counter() - t0)
            mean = 0.0
            if router.batcher:
                b, n = router.batcher.batches - before[0], router.batcher.items - before[1]
                mean = n / max(b, 1)
            print(
                f"  adecide at concurrency {concurrency:2d}: {rate:6.0f} decisions/s (mean batch {mean:.1f})"
            )

        print("in-process Router.adecide (micro-batched):")
        for c in (1, 8, 32):
            asyncio.run(run(c))
        hundred_k(router)


def hundred_k(router: object) -> None:
    from nexus.routing import knn
    from nexus.routing.ann import exact_top_k
    from nexus.routing.router import Router

    assert isinstance(router, Router) and router.prototypes is not None and router.embedder is not None
    queries = [
        f"{q} #{i}" for i, q in enumerate(["refactor this class", "what is 17% of 300", "hi there"] * 70)
    ]
    qv = router.embedder.embed(queries)
    # Realistic geometry: prototypes near real prompts (query vectors plus noise), not uniform noise.
    rng = np.random.default_rng(0)
    n, dim = 100_000, qv.shape[1]
    from nexus.routing.corpus import TRAINING_FILES, load_packaged

    seeds = [e.prompt for e in load_packaged(TRAINING_FILES)][::5][:1000]
    base = router.embedder.embed(seeds)
    # Paraphrase-like clouds around real prompts (noise norm ≈ 0.4 against unit vectors).
    vecs = base[rng.integers(0, len(base), n)] + 0.02 * rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    model = router.catalogue.ids[0]
    t0 = time.perf_counter()
    router.prototypes.add_many([(model, f"synthetic {i}") for i in range(n)], vectors=vecs, persist=False)
    router.prototypes.prepare_index()
    snap = router.prototypes.snapshot()
    print(
        f"\n{len(snap)} prototypes: added and indexed in {time.perf_counter() - t0:.1f} s ({snap.index.kind(len(snap)) if snap.index else 'exact'})"
    )
    for label, use_index in (("exact", False), ("approximate", True)):
        timings = []
        for q in qv:
            s = snap if use_index else knn.Snapshot(snap.matrix, snap.labels, snap.texts, snap.models)
            t0 = time.perf_counter()
            knn.vote(s, q, 5, 0.35)
            timings.append((time.perf_counter() - t0) * 1000)
        print(f"  KNN vote, {label:11s}: p50 {pct(timings, 50):.2f} ms  p99 {pct(timings, 99):.2f} ms")
    recall = []
    for q in qv[:100]:
        got, _ = (
            snap.index.search(snap.matrix, q, 5, snap.version)
            if snap.index
            else exact_top_k(snap.matrix, q, 5)
        )
        want, _ = exact_top_k(snap.matrix, q, 5)
        recall.append(len(set(got.tolist()) & set(want.tolist())) / 5)
    print(f"  recall@5 of the approximate index vs exact: {np.mean(recall):.3f}")
    timings = []
    for q in queries:
        t0 = time.perf_counter()
        router.decide(q + " (100k)")
        timings.append((time.perf_counter() - t0) * 1000)
    print(
        f"  full decision with {len(snap)} prototypes: p50 {pct(timings, 50):.2f} ms  p99 {pct(timings, 99):.2f} ms"
    )


def contention() -> float:
    """Milliseconds for a fixed pure-Python loop (about 12 ms on an idle core of these machines): the
    factor by which other processes slow everything below."""
    t0 = time.perf_counter()
    sum(range(10**6))
    return (time.perf_counter() - t0) * 1000


def budget_ab(texts: list[str]) -> None:
    """Embedding cost of long prompts at the old 256-token budget vs the routing budget, interleaved."""
    from nexus.embeddings.shared import EmbeddingSettings, get_embedder, routing_view

    shared = get_embedder()
    inner = getattr(shared, "inner", shared)
    if not hasattr(inner, "budgeted"):
        return
    old, new = inner.budgeted(256), routing_view(shared, EmbeddingSettings()).inner  # type: ignore[attr-defined]
    longs = [t for t in texts if len(t) > 1000][:60]
    a: list[float] = []
    b: list[float] = []
    for text in longs:
        for embedder, out in ((old, a), (new, b)):
            t0 = time.perf_counter()
            embedder.embed([text + " ~"])
            out.append((time.perf_counter() - t0) * 1000)
    print(
        f"\nembedding {len(longs)} prompts > 1,000 chars, interleaved: 256 tokens p50 {pct(a, 50):.1f} / p99 "
        f"{pct(a, 99):.1f} ms; {new.max_tokens} tokens p50 {pct(b, 50):.1f} / p99 {pct(b, 99):.1f} ms"
    )


def cache_bench(texts: list[str], entries: int) -> None:
    """SemanticCache.lookup on SQLite with `entries` cached answers for one tenant."""
    from nexus.config import Settings, load_catalogue
    from nexus.providers.types import ChatMessage, ChatRequest
    from nexus.routing.router import Router
    from nexus.service.cache import SemanticCache
    from nexus.service.feedback import RouterSettingsIn, RouterTuning
    from nexus.store import TenantScope, open_store

    def ask(text: str) -> ChatRequest:
        return ChatRequest(model="nexus-auto", messages=[ChatMessage(role="user", content=text)])

    async def run(tmp: Path) -> None:
        settings = Settings(data_dir=tmp)
        store = await open_store(settings)
        router = Router.from_catalogue(load_catalogue(), settings)
        tuning = RouterTuning(store, lambda: router)
        await tuning.save_settings(TenantScope.system(), "bench", RouterSettingsIn(cache_enabled=True))
        cache = SemanticCache(store, tuning, lambda: router.embedder, max_entries=entries)
        filled = texts[:entries]
        for t in filled:
            miss = await cache.lookup("bench", ask(t))
            assert miss is not None
            await cache.put("bench", miss, "a cached answer " * 20, "general")
        timings: dict[str, list[float]] = {"exact hit": [], "paraphrase": [], "miss": []}
        for i, t in enumerate(filled[-200:]):
            for kind, text in (("exact hit", t), ("paraphrase", t.strip() + " ?"), ("miss", f"new {i} {t}")):
                t0 = time.perf_counter()
                await cache.lookup("bench", ask(text))
                timings[kind].append((time.perf_counter() - t0) * 1000)
        for kind, xs in timings.items():
            print(f"cache {kind:11s}: p50 {pct(xs, 50):6.2f} ms  p99 {pct(xs, 99):6.2f} ms  (n={len(xs)})")
        print(f"cache counts {cache.counts}; {entries} entries for one tenant")
        await store.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--prompts", type=int, default=400)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only-100k", action="store_true", help="only the 100k-prototype part")
    parser.add_argument("--only-cache", action="store_true", help="only the semantic cache part")
    parser.add_argument("--cache-entries", type=int, default=2000)
    args = parser.parse_args()
    if args.only_cache:
        cache_bench(prompts(args.cache_entries), args.cache_entries)
        return 0
    if args.only_100k:
        from nexus.config import Settings, load_catalogue
        from nexus.routing.router import Router

        with tempfile.TemporaryDirectory() as tmp:
            router = Router.from_catalogue(load_catalogue(), Settings(data_dir=Path(tmp)))
            router.decide("warm up")
            hundred_k(router)
        return 0
    texts = prompts(args.prompts)
    print(
        f"{len(texts)} prompts, {min(map(len, texts))}–{max(map(len, texts))} chars; load average "
        f"{os.getloadavg()[0]:.1f}; reference loop {contention():.0f} ms (≈12 ms on an idle core)"
    )
    if not args.skip_http:
        http_bench(texts, args.requests)
    in_process(texts, args.requests)
    budget_ab(texts)
    print(f"reference loop at the end: {contention():.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
