"""Readable reasons for routing decisions: one sentence per rule, built from the explanation's evidence."""

from __future__ import annotations

from collections.abc import Callable

from nexus.config.catalogue import Catalogue
from nexus.routing.base import Explanation


def _domain(e: Explanation) -> str:
    c = e.classification
    if c is None:
        return "no classification"
    p = c.domain_scores.get(c.domain)
    return f"{c.domain}/{c.complexity}" + (f" (p={p:.2f})" if p is not None else "") + f" via {c.method}"


def _score(e: Explanation, model: str) -> str:
    s = next((s for s in e.scores if s.model == model), None)
    if s is None or s.utility is None:
        return ""
    return f"utility {s.utility:.3f}, ~${s.cost_per_1k_requests:.2f}/1k requests"


def _nearest(e: Explanation) -> str:
    if not e.neighbours:
        return "no prototypes"
    n = e.neighbours[0]
    return f"nearest prototype {n.prototype!r} of {n.model} (cos {n.similarity:.2f})"


_REASONS: dict[str, Callable[[Explanation, str, Catalogue], str]] = {
    "only-available": lambda e, m, c: f"{m} is the only available model for this request.",
    "self-answer": lambda e, m, c: f"Classified {_domain(e)}: simple enough for the self-answer model {m}.",
    "sticky": lambda e, m, c: (
        f"Conversation stays on {m}: no other model is better by the sticky margin ({_score(e, m)})."
    ),
    "abstain-default": lambda e, m, c: (
        f"No prototype is close enough ({_nearest(e)}, threshold "
        f"{c.routing.similarity_threshold}) and the classifier is unsure: default model {m}."
    ),
    "learned": lambda e, m, c: (
        f"Learned router predicts the best quality for the price with {m} "
        f"({_score(e, m)}, λ={e.cost_lambda})."
    ),
    "knn": lambda e, m, c: (
        f"Prototype vote and domain {_domain(e)} favour {m}: {_nearest(e)}; {_score(e, m)}."
    ),
    "domain": lambda e, m, c: (
        f"No prototype close enough; domain {_domain(e)} → worker {m} ({_score(e, m)})."
    ),
    "keywords-domain": lambda e, m, c: (
        f"Embeddings unavailable; keyword domain {_domain(e)} → {m} ({_score(e, m)})."
    ),
}


def reason(e: Explanation, model: str, catalogue: Catalogue) -> str:
    make = _REASONS.get(e.rule)
    return make(e, model, catalogue) if make else f"{model} chosen by rule {e.rule!r}."
