"""BEIR-layout evaluation: corpus.jsonl {"_id","title","text"}, queries.jsonl {"_id","text"}, qrels TSV
(query-id, corpus-id, score; one header line). nDCG@10 with trec_eval's linear gains, recall@100."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class EvalDataError(ValueError):
    """A malformed BEIR file; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class CorpusDoc:
    id: str
    title: str
    text: str


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalDataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise EvalDataError(f'{path}:{number}: expected an object with "_id"')
            yield number, row


def load_corpus(path: Path) -> list[CorpusDoc]:
    return [
        CorpusDoc(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))
        for _, row in _jsonl(path)
    ]


def load_queries(path: Path) -> dict[str, str]:
    return {str(row["_id"]): str(row.get("text") or "") for _, row in _jsonl(path)}


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if number == 1 and row and not row[-1].strip().lstrip("-").isdigit():
                continue  # the header
            if not row or not "".join(row).strip():
                continue
            if len(row) < 3:
                raise EvalDataError(f"{path}:{number}: expected query-id, corpus-id, score")
            try:
                score = int(float(row[2]))
            except ValueError:
                raise EvalDataError(f"{path}:{number}: score {row[2]!r} is not a number") from None
            qrels.setdefault(row[0], {})[row[1]] = score
    return qrels


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 100) -> float:
    wanted = {doc for doc, g in relevant.items() if g > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def doc_ranking(chunk_docs: Sequence[str]) -> list[str]:
    """Chunk hits (best first) → document ids (best first): a document ranks by its best chunk."""
    return list(dict.fromkeys(chunk_docs))
