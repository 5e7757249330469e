"""Shared routing types: the Embedder seam, the classifier's output and the router's Decision."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from nexus.embeddings.base import Embedder, EmbedderError

__all__ = ["Embedder", "EmbedderError"]  # re-exported: routing code imports them from here

Domain = Literal["code", "math", "reasoning", "knowledge", "writing", "finance", "conversation"]
Complexity = Literal["trivial", "simple", "medium", "complex"]


class Classification(BaseModel):
    domain: Domain
    complexity: Complexity
    can_self_answer: bool = False
    ambiguous: bool = False
    critical: bool = False
    # The calibrated top probability is below the model's threshold: the domain is a guess. The policy
    # then leans on the default model rather than a domain specialist.
    uncertain: bool = False
    subtasks: list[str] = Field(default_factory=list)
    # Probability per domain label, and which backend produced this ("embedding", "keywords", "llm").
    domain_scores: dict[str, float] = Field(default_factory=dict)
    method: str = "embedding"
    clarifying_question: str | None = None


class Neighbour(BaseModel):
    model: str
    prototype: str
    similarity: float


class ModelScore(BaseModel):
    model: str
    vote: float = 0.0  # similarity-weighted KNN vote share
    predicted_quality: float | None = None  # learned router's expected score in [0, 1]
    cost_per_1k_requests: float = 0.0  # USD at a typical request size
    latency_ms: float | None = None
    available: bool = True
    utility: float | None = None  # what the policy maximised


class Explanation(BaseModel):
    classification: Classification | None = None
    neighbours: list[Neighbour] = Field(default_factory=list)
    scores: list[ModelScore] = Field(default_factory=list)
    rule: str = ""  # which rule decided: "knn", "learned", "sticky", "abstain-default", "explicit", ...
    reason: str = ""  # one readable sentence
    cost_lambda: float | None = None
    fallback: str | None = None  # set when a component failed, e.g. "embedder failed: keywords used"
    elapsed_ms: float = 0.0
    extra: dict[str, Any] = Field(default_factory=dict)


class Decision(BaseModel):
    model: str
    alternatives: list[str] = Field(default_factory=list)
    explanation: Explanation


class RouteContext(BaseModel):
    """What the router may know beyond the text: the session's previous model, tenant, limits."""

    session_model: str | None = None
    tenant: str | None = None
    allowed_models: list[str] | None = None
    cost_lambda: float | None = None
    # Decide with the tenant's candidate feedback model (a retrain's, not yet promoted): what-if only.
    candidate: bool = False
