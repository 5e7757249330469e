"""The Router: classifier + prototype KNN + learned quality + policy → one explained Decision.

Order of rules (the first that applies decides, and names itself in the explanation):
  only-available   one candidate left after availability / the request's allowed list
  self-answer      the classifier says the cheap self-answer model can handle it
  sticky           the conversation's previous model, unless another is clearly better (margin)
  abstain-default  no prototype is close enough and the classifier is `uncertain`: roles.default
  learned | knn | domain | keywords-domain   the model maximising quality − λ·cost

Live calls feed the policy: subscribe `router.observe_call` to the providers' Meter and every call's
latency updates the model's latency estimate and its failure rate (a failing model loses utility).
Concurrent `decide` calls share embedding batches (`nexus.routing.batching`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nexus.config.catalogue import Catalogue
from nexus.config.settings import Settings
from nexus.routing import explain, knn
from nexus.routing.ab import route_overrides
from nexus.routing.base import Classification, Decision, Embedder, Explanation, ModelScore, RouteContext
from nexus.routing.batching import EmbeddingBatcher, shared_batcher
from nexus.routing.feedback import TenantModels
from nexus.routing.learned import LearnedRouter, LearnedRouterError, learned_dir
from nexus.routing.policy import (
    ErrorTracker,
    LatencyTracker,
    NoModelAvailableError,
    calibrate_lambda,
    cost_per_1k_requests,
    normalise,
    utilities,
)
from nexus.routing.prototypes import PrototypeStore, overlay_path

# Weights of the evidence when no learned predictions exist for the catalogue's models.
KNN_WEIGHT = 0.6
DOMAIN_WEIGHT = 0.4
# How much better (in utility) another model must be to move a conversation off its model.
STICKY_MARGIN = 0.15
LATENCY_WEIGHT = 0.05
# Utility lost per unit of recent failure rate: a model failing every call loses half a quality point.
ERROR_WEIGHT = 0.5


class ClassifierLike(Protocol):
    def classify(self, text: str) -> Classification: ...


@runtime_checkable
class VectorClassifier(Protocol):
    """A classifier that can reuse the router's vector (same embedder) instead of embedding again."""

    embedder: Embedder | None

    def classify(self, text: str, vector: np.ndarray | None = None) -> Classification: ...


class CallLike(Protocol):
    """What the router reads from a metering record (`nexus.providers.metering.CallRecord`)."""

    model: str
    latency_ms: float
    success: bool
    simulated: bool


class Router:
    def __init__(
        self,
        catalogue: Catalogue,
        *,
        embedder: Embedder | None,
        prototypes: PrototypeStore | None,
        classifier: ClassifierLike | None = None,
        keyword_classifier: ClassifierLike | None = None,
        learned: LearnedRouter | None = None,
        available: set[str] | None = None,
        cost_lambda: float | None = None,
        sticky_margin: float = STICKY_MARGIN,
        latency_weight: float = LATENCY_WEIGHT,
        error_weight: float = ERROR_WEIGHT,
        batching: bool = True,
    ) -> None:
        self.catalogue = catalogue
        self.embedder = embedder
        self.prototypes = prototypes
        self.classifier = classifier
        self.keyword_classifier = keyword_classifier
        self.learned = learned
        self.cost_lambda = catalogue.routing.cost_lambda if cost_lambda is None else cost_lambda
        self.sticky_margin = sticky_margin
        self.latency_weight = latency_weight
        self.error_weight = error_weight
        self.latency = LatencyTracker({m.id: m.latency_ms for m in catalogue.models})
        self.errors = ErrorTracker()
        self.batcher: EmbeddingBatcher | None = (
            shared_batcher(embedder) if embedder is not None and batching else None
        )
        self.costs = {m.id: cost_per_1k_requests(m) for m in catalogue.models}
        self.cost_norm = normalise(self.costs)
        self._available = set(catalogue.ids) if available is None else set(available)
        self._lock = threading.Lock()
        # Per tenant: the feedback model a promotion made serve, and a retrain's candidate.
        self.tenant_models = TenantModels()

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_catalogue(
        cls,
        catalogue: Catalogue,
        settings: Settings,
        embedder: Embedder | None = None,
        classifier: ClassifierLike | None = None,
        available: set[str] | None = None,
    ) -> Router:
        """Build from configuration: default embedder/classifier when not given, prototypes from the
        catalogue plus the run-time overlay, and a learned artefact when its model ids are catalogue ids."""
        embedder = embedder if embedder is not None else default_embedder(settings)
        store: PrototypeStore | None = None
        if embedder is not None:
            try:
                store = PrototypeStore.from_catalogue(catalogue, embedder, overlay_path(settings.data_dir))
            except Exception:  # embedder down at start-up: route on keywords; decide() reports the fallback
                store = None
        if classifier is None:
            classifier = default_classifier(settings, embedder)
        return cls(
            catalogue,
            embedder=embedder,
            prototypes=store,
            classifier=classifier,
            keyword_classifier=keyword_classifier(catalogue),
            learned=load_matching_learned(learned_dir(settings.data_dir), catalogue, embedder),
            available=available,
        )

    # -- run-time state -----------------------------------------------------------------------------
    def observe_latency(self, model: str, ms: float) -> None:
        self.latency.observe(model, ms)

    def observe_error(self, model: str, failed: bool = True) -> None:
        self.errors.observe(model, failed)

    def observe_call(self, record: CallLike) -> None:
        """A Meter listener: `meter.subscribe(router.observe_call)`. Successful real calls update the
        latency estimate; every real call updates the failure rate. Simulated (demo) calls are ignored."""
        if record.simulated or self.catalogue.get(record.model) is None:
            return
        if record.success:
            self.latency.observe(record.model, record.latency_ms)
        self.errors.observe(record.model, not record.success)

    def adopt_live_state(self, previous: Router) -> None:
        """Keep the live latency and failure estimates (and the tenants' feedback models) across a rebuild
        (catalogue reload)."""
        self.latency, self.errors = previous.latency, previous.errors
        self.tenant_models = previous.tenant_models

    def set_available(self, model_ids: Iterable[str]) -> None:
        with self._lock:
            self._available = set(model_ids)

    def set_model_available(self, model: str, available: bool) -> None:
        with self._lock:
            (self._available.add if available else self._available.discard)(model)

    @property
    def available(self) -> set[str]:
        with self._lock:
            return set(self._available)

    # -- deciding -----------------------------------------------------------------------------------
    def decide(self, text_or_messages: str | Sequence[Any], context: RouteContext | None = None) -> Decision:
        """One decision; concurrent callers (threads) share embedding batches."""
        t0 = time.perf_counter()
        text = query_text(text_or_messages)
        vec, fallback = self._embed_one(text)
        return self._decide(text, vec, fallback, context or RouteContext(), t0)

    async def adecide(
        self, text_or_messages: str | Sequence[Any], context: RouteContext | None = None
    ) -> Decision:
        """`decide` for coroutines: the embedding is awaited (batched with concurrent decisions) and the
        rest, well under a millisecond of numpy, runs inline."""
        t0 = time.perf_counter()
        text = query_text(text_or_messages)
        vec: np.ndarray | None = None
        fallback: str | None = None
        if self.batcher is None:
            vec, fallback = self._embed_one(text)
        else:
            try:
                vec = await self.batcher.aembed(text)
            except Exception as exc:  # any backend failure degrades to keywords, never fails the request
                fallback = _embed_failure(exc)
        return self._decide(text, vec, fallback, context or RouteContext(), t0)

    def decide_many(self, texts: list[str], context: RouteContext | None = None) -> list[Decision]:
        """Batch: one embedding call for all texts (elapsed_ms is each decision's share of the batch)."""
        t0 = time.perf_counter()
        vecs, fallback = self._embed(texts)
        out = []
        for i, text in enumerate(texts):
            out.append(
                self._decide(text, None if vecs is None else vecs[i], fallback, context or RouteContext(), t0)
            )
            t0 = time.perf_counter()
        return out

    def _embed(self, texts: list[str]) -> tuple[np.ndarray | None, str | None]:
        if self.embedder is None:
            return None, _NO_EMBEDDER
        try:
            return self.embedder.embed(texts), None
        except Exception as exc:  # any backend failure degrades to keywords, never fails the request
            return None, _embed_failure(exc)

    def _embed_one(self, text: str) -> tuple[np.ndarray | None, str | None]:
        if self.batcher is None:
            vecs, fallback = self._embed([text])
            return (None if vecs is None else vecs[0]), fallback
        try:
            return self.batcher.embed_one(text), None
        except Exception as exc:
            return None, _embed_failure(exc)

    def _classify(self, text: str, vec: np.ndarray | None) -> Classification | None:
        chosen = self.classifier if vec is not None else (self.keyword_classifier or self.classifier)
        if chosen is None:
            return None
        try:
            if vec is not None and isinstance(chosen, VectorClassifier) and chosen.embedder is self.embedder:
                return chosen.classify(text, vec)
            return chosen.classify(text)
        except Exception:  # the classifier's own embedder may be the one that failed
            return self.keyword_classifier.classify(text) if self.keyword_classifier else None

    def _decide(
        self, text: str, vec: np.ndarray | None, fallback: str | None, ctx: RouteContext, t0: float
    ) -> Decision:
        cat = self.catalogue
        cls_out = self._classify(text, vec)
        vote = knn.KnnVote(neighbours=[])
        if vec is not None and self.prototypes is not None:
            vote = knn.vote(
                self.prototypes.snapshot(), vec, cat.routing.knn_k, cat.routing.similarity_threshold
            )
        predicted = self.learned.predict_one(vec) if self.learned is not None and vec is not None else None
        prior = domain_prior(cat, cls_out)
        quality = self._quality(vote, prior, predicted)
        overrides = route_overrides.get()  # the run's A/B arm, set by the service
        bonus: dict[str, float] = {}
        feedback = (
            self.tenant_models.get(ctx.tenant, candidate=ctx.candidate)
            if overrides is None or overrides.feedback
            else None
        )
        if feedback is not None and vec is not None:
            bonus = feedback.bonus(vec)
            quality = {m: q + bonus.get(m, 0.0) for m, q in quality.items()}

        candidates = self._candidates(ctx)
        lam = ctx.cost_lambda
        if lam is None:
            lam = (
                overrides.cost_lambda if overrides is not None and overrides.cost_lambda is not None else None
            )
        lam = self.cost_lambda if lam is None else lam
        lat = {m: self.latency.get(m) or 0.0 for m in cat.ids}
        errors = self.errors.rates()
        ranked = utilities(
            quality,
            self.cost_norm,
            normalise(lat),
            candidates,
            lam,
            self.latency_weight,
            errors,
            self.error_weight,
        )
        rule, model = self._rule(ranked, cls_out, vote, predicted, fallback, ctx, bool(bonus))

        by_model = {u.model: u for u in ranked}
        scores = [
            ModelScore(
                model=m,
                vote=round(vote.votes.get(m, 0.0), 4),
                predicted_quality=None if predicted is None else round(predicted[m], 4),
                cost_per_1k_requests=round(self.costs[m], 4),
                latency_ms=lat[m],
                available=m in candidates,
                utility=round(by_model[m].value, 4) if m in by_model else None,
            )
            for m in cat.ids
        ]
        expl = Explanation(
            classification=cls_out,
            neighbours=vote.neighbours,
            scores=scores,
            rule=rule,
            cost_lambda=lam,
            fallback=fallback,
            extra={
                "best_similarity": round(vote.best_similarity, 4),
                "domain_prior": prior,
                **(
                    {"error_rate": {m: round(r, 3) for m, r in errors.items() if r > 0.001}} if errors else {}
                ),
                **({"feedback": {m: round(b, 4) for m, b in bonus.items()}} if bonus else {}),
                **(overrides.log() if overrides is not None else {}),
            },
        )
        expl.reason = explain.reason(expl, model, cat)
        expl.elapsed_ms = (time.perf_counter() - t0) * 1000.0
        alternatives = [u.model for u in ranked if u.model != model][:3]
        return Decision(model=model, alternatives=alternatives, explanation=expl)

    def _quality(
        self, vote: knn.KnnVote, prior: Mapping[str, float], predicted: Mapping[str, float] | None
    ) -> dict[str, float]:
        if predicted is not None:
            return dict(predicted)
        if vote.abstained:
            return {m: prior.get(m, 0.0) for m in self.catalogue.ids}
        return {
            m: KNN_WEIGHT * vote.votes.get(m, 0.0) + DOMAIN_WEIGHT * prior.get(m, 0.0)
            for m in self.catalogue.ids
        }

    def _candidates(self, ctx: RouteContext) -> list[str]:
        allowed = set(ctx.allowed_models) if ctx.allowed_models is not None else None
        avail = self.available
        out = [m for m in self.catalogue.ids if m in avail and (allowed is None or m in allowed)]
        if not out:
            raise NoModelAvailableError("no model is available for this request")
        return out

    def _rule(
        self,
        ranked: list[Any],
        cls_out: Classification | None,
        vote: knn.KnnVote,
        predicted: Mapping[str, float] | None,
        fallback: str | None,
        ctx: RouteContext,
        feedback: bool = False,
    ) -> tuple[str, str]:
        cat = self.catalogue
        names = [u.model for u in ranked]
        best = ranked[0]
        if len(ranked) == 1:
            return "only-available", best.model
        self_answer = cat.role("self_answer")
        if cls_out is not None and cls_out.can_self_answer and self_answer in names:
            return "self-answer", self_answer
        session = ctx.session_model
        if cat.routing.sticky and session is not None and session in names and session != best.model:
            gap = best.value - ranked[names.index(session)].value
            if gap < self.sticky_margin:
                return "sticky", session
        if session is not None and session == best.model and cat.routing.sticky:
            return "sticky", session
        if feedback:  # the tenant's ratings of prompts like this one weighed in
            return "feedback", best.model
        confident = cls_out is not None and not cls_out.uncertain
        if predicted is None and vote.abstained and not confident:
            default = cat.role("default")
            return "abstain-default", default if default in names else best.model
        if predicted is not None:
            return "learned", best.model
        if fallback is not None:
            return "keywords-domain", best.model
        return ("domain" if vote.abstained else "knn"), best.model

    # -- calibration --------------------------------------------------------------------------------
    def quality_matrix(self, texts: list[str]) -> np.ndarray:
        """(n, n_models) expected quality per recent prompt, as decide() would compute it."""
        vecs, _ = self._embed(texts)
        cat = self.catalogue
        rows = []
        for i, text in enumerate(texts):
            vec = None if vecs is None else vecs[i]
            vote = knn.KnnVote(neighbours=[])
            if vec is not None and self.prototypes is not None:
                vote = knn.vote(
                    self.prototypes.snapshot(), vec, cat.routing.knn_k, cat.routing.similarity_threshold
                )
            predicted = (
                self.learned.predict_one(vec) if self.learned is not None and vec is not None else None
            )
            q = self._quality(vote, domain_prior(cat, self._classify(text, vec)), predicted)
            rows.append([q[m] for m in cat.ids])
        return np.asarray(rows, dtype=np.float64)

    def calibrate_lambda(
        self,
        recent_prompts: list[str],
        *,
        strong_fraction: float | None = None,
        budget_per_1k: float | None = None,
        apply: bool = True,
    ) -> float:
        """λ meeting (a) a share of calls to the most expensive model or (b) a cost budget per 1k
        requests on this traffic; sets it on the router unless apply=False."""
        ids = self.catalogue.ids
        lam = calibrate_lambda(
            self.quality_matrix(recent_prompts),
            np.array([self.cost_norm[m] for m in ids]),
            strong_fraction=strong_fraction,
            costs_per_1k=np.array([self.costs[m] for m in ids]),
            budget_per_1k=budget_per_1k,
        )
        if apply:
            self.cost_lambda = lam
        return lam

    # -- listing ------------------------------------------------------------------------------------
    def models_info(self) -> list[dict[str, Any]]:
        avail = self.available
        return [
            {
                "id": m.id,
                "input_price_per_mtok": m.input_price_per_mtok,
                "output_price_per_mtok": m.output_price_per_mtok,
                "cost_per_1k_requests": round(self.costs[m.id], 4),
                "tags": list(m.tags),
                "available": m.id in avail,
                "prototypes": self.prototypes.count(m.id) if self.prototypes is not None else 0,
                "latency_ms": self.latency.get(m.id),
            }
            for m in self.catalogue.models
        ]


# -- helpers -------------------------------------------------------------------------------------------
_NO_EMBEDDER = "no embedder configured: keyword classifier used, KNN skipped"


def _embed_failure(exc: BaseException) -> str:
    return f"embedder failed ({type(exc).__name__}: {exc}): keyword classifier used, KNN skipped"


def query_text(text_or_messages: str | Sequence[Any]) -> str:
    """The text to route on: a string, or the last user message of an OpenAI-style message list."""
    if isinstance(text_or_messages, str):
        return text_or_messages
    for msg in reversed(list(text_or_messages)):
        role = msg.get("role") if isinstance(msg, dict) else getattr(msg, "role", None)
        content = msg.get("content") if isinstance(msg, dict) else getattr(msg, "content", None)
        if role == "user" and content:
            return content if isinstance(content, str) else _content_text(content)
    return ""


def _content_text(parts: Any) -> str:
    out = []
    for p in parts if isinstance(parts, list) else []:
        text = p.get("text") if isinstance(p, dict) else getattr(p, "text", None)
        if text:
            out.append(str(text))
    return "\n".join(out)


def domain_prior(cat: Catalogue, cls_out: Classification | None) -> dict[str, float]:
    """Per model: the classifier's probability mass on the domains this model is the worker for."""
    if cls_out is None:
        return {}
    probs = cls_out.domain_scores or {cls_out.domain: 1.0}
    prior: dict[str, float] = {}
    for domain, p in probs.items():
        worker = cat.worker_for(domain)
        prior[worker] = prior.get(worker, 0.0) + float(p)
    return prior


def load_matching_learned(
    directory: Path, catalogue: Catalogue, embedder: Embedder | None
) -> LearnedRouter | None:
    """A learned artefact is used only when it scores exactly the catalogue's models with our embedder."""
    if embedder is None or not (directory / "meta.json").exists():
        return None
    try:
        learned = LearnedRouter.load(directory)
    except LearnedRouterError:
        return None
    if set(learned.models) != set(catalogue.ids) or learned.embedder_name != embedder.name:
        return None
    return learned


def default_embedder(settings: Settings) -> Embedder | None:
    from nexus.embeddings.shared import get_routing_embedder

    return get_routing_embedder(settings)


def default_classifier(settings: Settings, embedder: Embedder | None) -> ClassifierLike | None:
    from nexus.routing.classifier import Classifier

    return Classifier(embedder=embedder, settings=settings)


def keyword_classifier(catalogue: Catalogue) -> ClassifierLike | None:
    from nexus.routing.keywords import KeywordClassifier

    return KeywordClassifier()
