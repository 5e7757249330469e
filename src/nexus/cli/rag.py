"""`nexus rag ingest | search | eval`: documents from the command line. Heavy imports live inside the
commands so `nexus --help` stays fast."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from nexus.rag.service import RagService
    from nexus.store import Store

rag_app = typer.Typer(
    help="Documents: ingest files into collections, search them, evaluate retrieval.", no_args_is_help=True
)


async def _open() -> tuple[RagService, Store]:
    from nexus.config.settings import get_settings
    from nexus.embeddings.shared import get_embedder
    from nexus.rag.factory import build_rag_service
    from nexus.rag.jobs import LocalJobs
    from nexus.store import open_store

    settings = get_settings()
    store = await open_store(settings)
    return build_rag_service(settings, store, get_embedder(settings), jobs=LocalJobs(concurrency=1)), store


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@rag_app.command("ingest")
def ingest_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files (PDF, DOCX, HTML, Markdown, text) or folders.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection name (created if new).")],
    tenant: Annotated[str, typer.Option(help="Tenant that owns the collection.")] = "default",
) -> None:
    """Ingest files into a collection; prints one line per file with its status."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            _fail(f"{path}: no such file or folder")
    code = asyncio.run(_ingest(files, collection, tenant))
    raise typer.Exit(code)


async def _ingest(files: list[Path], collection: str, tenant: str) -> int:
    from rich.progress import Progress

    from nexus.rag.errors import IngestError
    from nexus.store import TenantScope

    rag, store = await _open()
    scope = TenantScope(tenant)
    failed = 0
    try:
        target = await rag.collection_by_name(scope, collection, create=True)
        with Progress(transient=True) as progress:
            task = progress.add_task("ingesting", total=len(files))
            for path in files:
                if path.stat().st_size > rag.limits.max_bytes:
                    typer.echo(
                        f"failed     {path}  file_too_large: {path.stat().st_size} bytes > {rag.limits.max_bytes}"
                    )
                    failed += 1
                    progress.advance(task)
                    continue
                try:
                    await rag.add_file(scope, target.id, path.read_bytes(), path.name)
                except IngestError as exc:
                    typer.echo(f"failed     {path}  {exc.code}: {exc}")
                    failed += 1
                await rag.jobs.drain()  # type: ignore[attr-defined]
                progress.advance(task)
        for info in await rag.list_files(scope, target.id):
            reason = (
                f"  {info.error_code}: {info.error}" if info.status == "failed" else f"  {info.chunks} chunks"
            )
            typer.echo(f"{info.status:<10} {info.filename}  {info.id}{reason}")
            failed += info.status == "failed" and info.filename in {f.name for f in files}
    finally:
        await rag.close()
        await store.close()
    return 1 if failed else 0


@rag_app.command("search")
def search_cmd(
    query: Annotated[str, typer.Argument(help="The question or keywords.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection name.")],
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="How many passages.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    tenant: Annotated[str, typer.Option(help="Tenant that owns the collection.")] = "default",
) -> None:
    """Hybrid search (BM25 + vectors, fused, reranked) in one collection."""
    asyncio.run(_search(query, collection, k, as_json, tenant))


async def _search(query: str, collection: str, k: int, as_json: bool, tenant: str) -> None:
    from dataclasses import asdict

    from nexus.store import NotFound, TenantScope

    rag, store = await _open()
    try:
        try:
            target = await rag.collection_by_name(TenantScope(tenant), collection)
        except NotFound:
            _fail(f"no collection named {collection!r} (ingest into it first)")
        result = await rag.search(TenantScope(tenant), [target.id], query, k)
    finally:
        await rag.close()
        await store.close()
    if as_json:
        typer.echo(
            json.dumps(
                {"query": query, "hits": [asdict(h) for h in result.hits], "timings_ms": result.timings_ms}
            )
        )
        return
    for rank, hit in enumerate(result.hits, start=1):
        where = f"p.{hit.page}" if hit.page else (hit.section or "")
        snippet = " ".join(hit.text.split())[:160]
        typer.echo(f"{rank:>2}. {hit.score:8.4f}  {hit.filename} {where}\n    {snippet}")


@rag_app.command("eval")
def eval_cmd(
    corpus: Annotated[Path, typer.Option("--corpus", exists=True, dir_okay=False, help="BEIR corpus.jsonl")],
    queries: Annotated[
        Path, typer.Option("--queries", exists=True, dir_okay=False, help="BEIR queries.jsonl")
    ],
    qrels: Annotated[Path, typer.Option("--qrels", exists=True, dir_okay=False, help="BEIR qrels TSV")],
    k: Annotated[
        int, typer.Option("--k", min=1, help="Cut-off shown for nDCG (nDCG@10 is always reported).")
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    reranker: Annotated[
        Path | None, typer.Option(help="A trained reranker (default: NEXUS_RAG_RERANKER).")
    ] = None,
    cache: Annotated[bool, typer.Option(help="Cache corpus embeddings in the Nexus cache dir.")] = True,
) -> None:
    """nDCG@10, recall@100 and query latency p50/p99 of the retrieval pipeline on BEIR-layout files."""
    from nexus.rag.evaluation import EvalDataError

    try:
        report, extra = asyncio.run(_eval(corpus, queries, qrels, k, reranker, cache, quiet=as_json))
    except EvalDataError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps({**report.as_json(), **extra}))
        return
    typer.echo(
        f"nDCG@10     {report.ndcg_at_10:.4f}\nrecall@100  {report.recall_at_100:.4f}\n"
        f"p50         {report.p50_ms:.2f} ms\np99         {report.p99_ms:.2f} ms\n"
        f"({report.queries} queries, {report.documents} documents, {report.chunks} chunks, index {report.index_s:.0f} s)"
    )
    if f"ndcg@{k}" in extra:
        typer.echo(f"nDCG@{k}     {extra[f'ndcg@{k}']:.4f}")


@rag_app.command("train-reranker")
def train_reranker_cmd(
    corpus: Annotated[Path, typer.Option("--corpus", exists=True, dir_okay=False, help="BEIR corpus.jsonl")],
    queries: Annotated[
        Path, typer.Option("--queries", exists=True, dir_okay=False, help="BEIR queries.jsonl")
    ],
    qrels: Annotated[Path, typer.Option("--qrels", exists=True, dir_okay=False, help="BEIR qrels TSV")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the model (then NEXUS_RAG_RERANKER=PATH).")
    ],
    cache: Annotated[bool, typer.Option(help="Cache corpus embeddings in the Nexus cache dir.")] = True,
) -> None:
    """Train the LambdaMART reranker on your labelled queries (BEIR layout). Measure it on held-out
    queries with bench/bench_rag_cv.py before relying on it."""
    from nexus.rag.evaluation import EvalDataError

    try:
        asyncio.run(_eval(corpus, queries, qrels, 10, None, cache, quiet=False, train_to=out))
    except EvalDataError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {out}; use it with NEXUS_RAG_RERANKER={out}")


async def _eval(
    corpus_path: Path,
    queries_path: Path,
    qrels_path: Path,
    k: int,
    reranker_path: Path | None,
    cache: bool,
    quiet: bool,
    train_to: Path | None = None,
) -> tuple[Any, dict[str, float]]:
    import tempfile
    import time

    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from nexus.config.artifacts import cache_root
    from nexus.config.settings import get_settings
    from nexus.embeddings.shared import get_embedder
    from nexus.rag import beir
    from nexus.rag.evaluation import load_corpus, load_qrels, load_queries, ndcg_at
    from nexus.rag.ingest import ChunkingConfig
    from nexus.rag.lexical.tantivy import TantivyIndex
    from nexus.rag.rerank import LambdaMartReranker
    from nexus.rag.retrieval import Retriever
    from nexus.rag.vectors.embedded import EmbeddedVectorStore

    settings = get_settings()
    corpus = load_corpus(corpus_path)
    questions = load_queries(queries_path)
    judgements = load_qrels(qrels_path)
    wanted = {q: t for q, t in questions.items() if q in judgements}
    embedder = get_embedder(settings)
    chunking = ChunkingConfig(max_tokens=settings.rag_chunk_tokens, overlap_tokens=settings.rag_chunk_overlap)
    model_path = reranker_path or settings.rag_reranker
    ranker = LambdaMartReranker.load(model_path) if model_path else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    console = Console(stderr=True)
    with (
        tempfile.TemporaryDirectory(prefix="nexus-rag-eval-") as tmp,
        Progress(*columns, console=console, transient=quiet) as progress,
    ):
        lexical = TantivyIndex(Path(tmp) / "lexical")
        vectors = EmbeddedVectorStore(Path(tmp) / "vectors.db")
        started = time.perf_counter()
        records = beir.corpus_records(corpus, chunking)
        task = progress.add_task("embedding corpus", total=len(records))
        matrix = beir.embed_cached(
            embedder,
            records,
            64,
            cache_root() / "rag-eval" if cache else None,
            lambda n: progress.advance(task, n),
        )
        await beir.index_corpus(records, matrix, lexical, vectors)
        index_s = time.perf_counter() - started
        retriever = Retriever(lexical, vectors, embedder, ranker)
        await retriever.search(beir.TENANT, beir.COLLECTION, "warm up", 10)
        task = progress.add_task("queries", total=len(wanted))
        rankings, latencies, hits = await beir.run_queries(
            retriever, wanted, max(100, k), lambda n: progress.advance(task, n)
        )
        await lexical.close()
        await vectors.close()
    if train_to is not None:
        from nexus.rag.rerank import train_reranker

        _, feats, labels = beir.training_data(wanted, hits, judgements)
        train_reranker(feats, labels).save(train_to)
    ndcg, recall, p50, p99 = beir.score(rankings, judgements, latencies)
    extra: dict[str, float] = {}
    if k != 10:
        extra[f"ndcg@{k}"] = round(
            float(np.mean([ndcg_at(rankings[q], judgements[q], k) for q in rankings])), 4
        )
    documents = len({r.file_id for r in records})
    return beir.EvalReport(ndcg, recall, p50, p99, len(wanted), documents, len(records), index_s), extra
