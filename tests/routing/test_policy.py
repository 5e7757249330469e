"""Router + policy: the rules decide as documented, every decision explains itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nexus.config.catalogue import parse_catalogue
from nexus.config.settings import Settings
from nexus.embeddings import HashingEmbedder
from nexus.routing.base import Classification, EmbedderError, RouteContext
from nexus.routing.learned import LearnedRouter, learned_dir
from nexus.routing.policy import LatencyTracker, NoModelAvailableError, calibrate_lambda
from nexus.routing.router import Router, query_text

CATALOGUE = """
models:
  - {id: coder, provider: demo, model: c, input_price_per_mtok: 1, output_price_per_mtok: 3, context_window: 1000,
     prototypes: ["write a python function to sort a list", "fix this python bug in my function"]}
  - {id: mathy, provider: demo, model: m, input_price_per_mtok: 0.5, output_price_per_mtok: 1, context_window: 1000,
     prototypes: ["solve the equation for x", "compute the integral of x squared"]}
  - {id: chat, provider: demo, model: h, input_price_per_mtok: 0.1, output_price_per_mtok: 0.1, context_window: 1000,
     prototypes: ["hello how are you"]}
  - {id: big, provider: demo, model: b, input_price_per_mtok: 15, output_price_per_mtok: 75, context_window: 1000}
roles: {default: chat, self_answer: chat}
workers: {code: coder, math: mathy, conversation: chat}
routing: {knn_k: 3, similarity_threshold: 0.45, cost_lambda: 0.5}
"""


class KeywordStub:
    """Stands in for routing A's keyword classifier: code if 'python' appears, else conversation."""

    def __init__(self, method: str = "keywords", self_answer_on: str = "") -> None:
        self.method = method
        self.self_answer_on = self_answer_on

    def classify(self, text: str) -> Classification:
        domain = "code" if "python" in text else "conversation"
        return Classification(
            domain=domain,
            complexity="simple",
            can_self_answer=bool(self.self_answer_on) and self.self_answer_on in text,
            domain_scores={domain: 0.9},
            method=self.method,
        )


class FailingEmbedder(HashingEmbedder):
    def embed(self, texts: list[str]) -> np.ndarray:
        raise EmbedderError("model file missing")


def make_router(tmp_path: Path, **kw: object) -> Router:
    settings = Settings(data_dir=tmp_path)
    classifier = kw.pop("classifier", None)
    router = Router.from_catalogue(
        parse_catalogue(CATALOGUE), settings, embedder=kw.pop("embedder", HashingEmbedder()), **kw
    )  # type: ignore[arg-type]
    # No classifier unless a test gives one: the rules under test are the KNN/policy ones.
    router.classifier = classifier  # type: ignore[assignment]
    return router


def test_knn_decision_with_full_explanation(tmp_path: Path) -> None:
    d = make_router(tmp_path).decide("write a python function to sort a dict")
    e = d.explanation
    assert d.model == "coder"
    assert e.rule == "knn"
    assert e.neighbours[0].model == "coder" and e.neighbours[0].similarity > 0.45
    assert {s.model for s in e.scores} == {"coder", "mathy", "chat", "big"}
    coder = next(s for s in e.scores if s.model == "coder")
    assert coder.vote == pytest.approx(1.0) and coder.utility is not None and coder.cost_per_1k_requests > 0
    assert e.cost_lambda == 0.5
    assert "coder" in e.reason and e.elapsed_ms > 0
    assert d.alternatives and "coder" not in d.alternatives


def test_abstains_to_default_when_nothing_is_close(tmp_path: Path) -> None:
    d = make_router(tmp_path).decide("zebra quantum marmalade")
    assert (d.model, d.explanation.rule) == ("chat", "abstain-default")
    assert "threshold" in d.explanation.reason


def test_runtime_prototype_changes_the_decision(tmp_path: Path) -> None:
    router = make_router(tmp_path)
    assert router.decide("zebra quantum marmalade").model == "chat"
    assert router.prototypes is not None
    router.prototypes.add("mathy", "zebra quantum marmalade stew")
    d = router.decide("zebra quantum marmalade")
    assert (d.model, d.explanation.rule) == ("mathy", "knn")
    router.prototypes.remove("mathy", "zebra quantum marmalade stew")
    assert router.decide("zebra quantum marmalade").model == "chat"


def test_unavailable_models_are_never_chosen(tmp_path: Path) -> None:
    router = make_router(tmp_path, available={"mathy", "chat", "big"})
    d = router.decide("write a python function to sort a list")
    assert d.model != "coder"
    assert next(s for s in d.explanation.scores if s.model == "coder").available is False
    router.set_available({"mathy"})
    d = router.decide("write a python function to sort a list")
    assert (d.model, d.explanation.rule) == ("mathy", "only-available")
    router.set_available(set())
    with pytest.raises(NoModelAvailableError):
        router.decide("hi")


def test_allowed_models_from_context(tmp_path: Path) -> None:
    d = make_router(tmp_path).decide("write a python function", RouteContext(allowed_models=["chat", "big"]))
    assert d.model in {"chat", "big"}


def test_sticky_keeps_the_session_model_unless_clearly_beaten(tmp_path: Path) -> None:
    router = make_router(tmp_path)
    # A vague follow-up stays on the conversation's model.
    d = router.decide("zebra quantum marmalade", RouteContext(session_model="mathy"))
    assert (d.model, d.explanation.rule) == ("mathy", "sticky")
    # A clear code request moves off it: the code model wins by more than the margin.
    d = router.decide("write a python function to sort a list", RouteContext(session_model="mathy"))
    assert (d.model, d.explanation.rule) == ("coder", "knn")


def test_embedder_failure_falls_back_to_keywords(tmp_path: Path) -> None:
    router = make_router(tmp_path, embedder=FailingEmbedder(), classifier=KeywordStub(method="embedding"))
    router.keyword_classifier = KeywordStub()
    d = router.decide("please write python code for me")
    e = d.explanation
    assert e.fallback is not None and "embedder failed" in e.fallback
    assert e.neighbours == []  # KNN skipped
    assert e.classification is not None and e.classification.method == "keywords"
    assert (d.model, e.rule) == ("coder", "keywords-domain")


def test_self_answer_rule(tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub(self_answer_on="thanks"))
    d = router.decide("thanks a lot")
    assert (d.model, d.explanation.rule) == ("chat", "self-answer")


def test_messages_input_routes_on_the_last_user_turn(tmp_path: Path) -> None:
    msgs = [
        {"role": "user", "content": "hello how are you"},
        {"role": "assistant", "content": "fine"},
        {"role": "user", "content": [{"type": "text", "text": "solve the equation for x"}]},
    ]
    assert query_text(msgs) == "solve the equation for x"
    assert make_router(tmp_path).decide(msgs).model == "mathy"


def test_cost_lambda_trades_quality_for_price(tmp_path: Path) -> None:
    router = make_router(tmp_path)
    assert router.prototypes is not None
    router.prototypes.add("big", "write a python function to sort a list quickly")
    text = "write a python function to sort a list quickly"
    assert router.decide(text, RouteContext(cost_lambda=0.0)).model == "big"
    assert router.decide(text, RouteContext(cost_lambda=5.0)).model != "big"


def test_learned_artefact_with_catalogue_ids_is_used(tmp_path: Path) -> None:
    emb = HashingEmbedder()
    texts = ["write a python function to sort a list", "solve the equation for x"] * 10
    y = np.array([[0.9, 0.3, 0.1, 0.95], [0.2, 0.9, 0.1, 0.95]] * 10, dtype=np.float32)
    LearnedRouter.fit(emb.embed(texts), y, ["coder", "mathy", "chat", "big"], embedder_name=emb.name).save(
        learned_dir(tmp_path)
    )
    router = make_router(tmp_path, embedder=emb)
    d = router.decide("solve the equation for x")
    assert (d.model, d.explanation.rule) == ("mathy", "learned")
    mathy = next(s for s in d.explanation.scores if s.model == "mathy")
    assert mathy.predicted_quality is not None and mathy.predicted_quality > 0.7


def test_latency_tracker_ewma() -> None:
    t = LatencyTracker({"a": 800.0}, alpha=0.5)
    assert t.get("a") == 800.0 and not t.observed("a")
    t.observe("a", 100.0)
    t.observe("a", 300.0)
    assert t.get("a") == pytest.approx(200.0)
    assert t.get("unknown") is None


def test_router_feeds_observed_latency_into_scores(tmp_path: Path) -> None:
    router = make_router(tmp_path)
    router.observe_latency("coder", 5000.0)
    d = router.decide("write a python function to sort a list")
    assert next(s for s in d.explanation.scores if s.model == "coder").latency_ms == 5000.0


def test_calibrate_lambda_targets() -> None:
    # Strong model (index 1) is better on every prompt by 0.2; its normalised cost is 1.0.
    q = np.array([[0.5, 0.7]] * 10)
    q[:3, 1] = 1.0  # on 3 prompts it is better by 0.5
    cost = np.array([0.1, 1.0])
    lam_30 = calibrate_lambda(q, cost, strong_fraction=0.3)
    assert 0.2 / 0.9 < lam_30 <= 0.5 / 0.9 + 1e-6
    assert calibrate_lambda(q, cost, strong_fraction=1.0) == 0.0
    lam_budget = calibrate_lambda(q, cost, costs_per_1k=np.array([1.0, 11.0]), budget_per_1k=1.0)
    assert lam_budget > 0.5 / 0.9
    with pytest.raises(ValueError, match="exactly one target"):
        calibrate_lambda(q, cost)


def test_router_calibrate_lambda_sets_lambda(tmp_path: Path) -> None:
    router = make_router(tmp_path)
    lam = router.calibrate_lambda(
        ["write a python function", "hello how are you", "solve the equation"], strong_fraction=0.0
    )
    assert router.cost_lambda == lam
    assert router.models_info()[0]["prototypes"] == 2
