"""Query–candidate features for the learned reranker: both retrievers' scores and ranks (raw and relative
to the list), plus cheap lexical evidence the BM25 score hides (coverage of the query's terms in the title
and body, shared bigrams and numbers). Fixed order: a trained model stores FEATURES and refuses others."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nexus.rag.fusion import Candidate
from nexus.rag.records import ChunkRecord
from nexus.rag.text import terms

FEATURES = (
    "lexical_score",
    "lexical_rel",
    "lexical_missing",
    "lexical_rrf",
    "vector_score",
    "vector_gap",
    "vector_missing",
    "vector_rrf",
    "fused",
    "coverage",
    "title_coverage",
    "bigram_overlap",
    "number_overlap",
    "query_terms",
    "chunk_log_len",
)
_RRF_K = 60


def _stem(word: str) -> str:
    # A crude prefix stem: "infections"/"infection"/"infected" meet at "infec"; enough for coverage.
    return word[:5] if len(word) > 5 else word


def featurize(query: str, candidates: Sequence[Candidate], chunks: Sequence[ChunkRecord]) -> np.ndarray:
    q_terms = list(dict.fromkeys(_stem(t) for t in terms(query)))
    q_bigrams = set(zip(q_terms, q_terms[1:], strict=False))
    q_numbers = {t for t in q_terms if any(ch.isdigit() for ch in t)}
    lex = [c.lexical_score for c in candidates if c.lexical_score is not None]
    vec = [c.vector_score for c in candidates if c.vector_score is not None]
    lex_max = max(lex) if lex else 1.0
    vec_max = max(vec) if vec else 0.0
    vec_floor = (min(vec) - 0.02) if vec else 0.0
    depth = len(candidates) + 1
    out = np.zeros((len(candidates), len(FEATURES)), dtype=np.float32)
    for row, (cand, chunk) in enumerate(zip(candidates, chunks, strict=True)):
        body = [_stem(t) for t in terms(chunk.text)]
        body_set = set(body)
        title_set = {_stem(t) for t in terms(chunk.title + " " + chunk.section)}
        body_bigrams = set(zip(body, body[1:], strict=False))
        n = max(len(q_terms), 1)
        lexical = cand.lexical_score
        vector = cand.vector_score if cand.vector_score is not None else vec_floor
        out[row] = (
            lexical or 0.0,
            (lexical or 0.0) / lex_max if lex_max > 0 else 0.0,
            float(lexical is None),
            1.0 / (_RRF_K + (cand.lexical_rank or depth)),
            vector,
            vector - vec_max,
            float(cand.vector_score is None),
            1.0 / (_RRF_K + (cand.vector_rank or depth)),
            cand.fused,
            sum(t in body_set or t in title_set for t in q_terms) / n,
            sum(t in title_set for t in q_terms) / n,
            len(q_bigrams & body_bigrams) / max(len(q_bigrams), 1),
            len(q_numbers & (body_set | title_set)) / max(len(q_numbers), 1) if q_numbers else 0.5,
            float(len(q_terms)),
            math.log1p(len(body)),
        )
    return out
