"""`nexus rag ingest | search | eval` in-process through Typer, on a tmp data dir and the hashing embedder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nexus.cli.rag import rag_app
from nexus.config.settings import get_settings
from nexus.embeddings.shared import set_embedder

from .docs import make_pdf


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("NEXUS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NEXUS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NEXUS_EMBEDDINGS_BACKEND", "hashing")
    get_settings.cache_clear()
    set_embedder(None)
    yield tmp_path
    get_settings.cache_clear()
    set_embedder(None)


def test_ingest_then_search(env: Path) -> None:
    (env / "docs").mkdir()
    (env / "docs" / "guide.md").write_text(
        "# Guide\n\n## Boats\n\nKayaks are paddled with a double-bladed paddle.\n"
    )
    (env / "docs" / "tides.pdf").write_bytes(make_pdf([["Neap tides have the smallest range."]]))
    (env / "docs" / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    runner = CliRunner()
    result = runner.invoke(rag_app, ["ingest", "--collection", "sea", str(env / "docs")])
    assert result.exit_code == 1, result.output  # one file failed
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.strip()}
    assert lines["guide.md"].startswith("completed") and lines["tides.pdf"].startswith("completed")
    assert lines["photo.txt"].startswith("failed") and "unsupported_type" in lines["photo.txt"]

    result = runner.invoke(
        rag_app, ["search", "--collection", "sea", "which paddle for kayaks", "--k", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["hits"][0]["filename"] == "guide.md" and "double-bladed" in body["hits"][0]["text"]
    assert len(body["hits"]) == 2

    result = runner.invoke(rag_app, ["search", "--collection", "nowhere", "x"])
    assert result.exit_code == 2 and "no collection named 'nowhere'" in result.output


def test_eval_prints_the_metrics_as_json(env: Path) -> None:
    corpus = [
        {"_id": "d1", "title": "Kayaks", "text": "Kayaks are paddled with a double-bladed paddle."},
        {"_id": "d2", "title": "Canoes", "text": "Canoes use a single-bladed paddle and an open hull."},
        {"_id": "d3", "title": "Tides", "text": "Neap tides have the smallest tidal range of the month."},
    ]
    queries = [
        {"_id": "q1", "text": "double-bladed paddle kayak"},
        {"_id": "q2", "text": "smallest tidal range"},
    ]
    (env / "corpus.jsonl").write_text("\n".join(json.dumps(c) for c in corpus))
    (env / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (env / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    result = CliRunner().invoke(
        rag_app,
        [
            "eval",
            "--corpus",
            str(env / "corpus.jsonl"),
            "--queries",
            str(env / "queries.jsonl"),
            "--qrels",
            str(env / "qrels.tsv"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert {"ndcg@10", "recall@100", "p50_ms", "p99_ms"} <= report.keys()
    assert report["ndcg@10"] == 1.0 and report["recall@100"] == 1.0
    assert report["queries"] == 2 and report["documents"] == 3
    assert 0 < report["p50_ms"] <= report["p99_ms"]


def test_eval_names_the_bad_line(env: Path) -> None:
    (env / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\nnot json\n')
    (env / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n')
    (env / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    result = CliRunner().invoke(
        rag_app,
        [
            "eval",
            "--corpus",
            str(env / "corpus.jsonl"),
            "--queries",
            str(env / "queries.jsonl"),
            "--qrels",
            str(env / "qrels.tsv"),
        ],
    )
    assert result.exit_code == 2 and "corpus.jsonl:2: not valid JSON" in result.output
