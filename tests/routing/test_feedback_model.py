"""Feedback models: ratings move decisions for prompts like the rated ones, per tenant, candidate vs served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.routing.test_policy import KeywordStub, make_router

from nexus.routing.base import RouteContext
from nexus.routing.feedback import FeedbackModel, Rating

PROMPT = "write a python function to sort a list"
UNRELATED = "solve the equation for x"


def _fit(router, ratings: list[Rating]) -> FeedbackModel:  # type: ignore[no-untyped-def]
    vectors = router.embedder.embed([r.prompt for r in ratings])
    return FeedbackModel.fit(ratings, vectors, set(router.catalogue.ids))


def _ratings() -> list[Rating]:
    # The tenant's users dislike the coder's answers to sorting questions and like the maths model's.
    return [Rating(PROMPT, "coder", 0.0)] * 4 + [Rating(PROMPT, "mathy", 1.0)] * 4


def test_candidate_moves_the_decision_only_for_its_tenant_and_only_once_promoted(tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub())
    before = router.decide(PROMPT, RouteContext(tenant="acme")).model
    assert before == "coder"
    router.tenant_models.set_candidate("acme", _fit(router, _ratings()))

    candidate = router.decide(PROMPT, RouteContext(tenant="acme", candidate=True))
    assert candidate.model == "mathy"
    assert candidate.explanation.rule == "feedback"
    assert (
        candidate.explanation.extra["feedback"]["coder"]
        < 0
        < candidate.explanation.extra["feedback"]["mathy"]
    )
    # Not promoted: the served decision is unchanged.
    assert router.decide(PROMPT, RouteContext(tenant="acme")).model == before
    # Another tenant, even asking for candidates, never sees acme's.
    assert router.decide(PROMPT, RouteContext(tenant="globex", candidate=True)).model == before

    router.tenant_models.serve("acme", _fit(router, _ratings()))
    assert router.decide(PROMPT, RouteContext(tenant="acme")).model == "mathy"
    assert router.decide(PROMPT, RouteContext(tenant="globex")).model == before
    assert router.decide(PROMPT).model == before  # no tenant: no tenant's feedback
    # An unrelated prompt of the same tenant is left alone.
    assert router.decide(UNRELATED, RouteContext(tenant="acme")).model == router.decide(UNRELATED).model


def test_neutral_and_unknown_model_ratings_are_no_evidence(tmp_path: Path) -> None:
    router = make_router(tmp_path, classifier=KeywordStub())
    model = _fit(router, [Rating(PROMPT, "coder", 0.5), Rating(PROMPT, "no-such-model", 0.0)])
    assert len(model) == 1
    assert model.bonus(router.embedder.embed([PROMPT])[0]) == {"coder": 0.0}


def test_artefact_round_trip() -> None:
    vecs = np.eye(3, 4, dtype=np.float32)
    model = FeedbackModel(vecs, ["a", "b", "c"], [1.0, -1.0, 0.5], embedder_name="hash")
    again = FeedbackModel.from_json(model.to_json())
    assert again.models == model.models and again.embedder_name == "hash"
    assert np.allclose(again.vectors, vecs) and np.allclose(again.signs, model.signs)
    assert again.bonus(vecs[1]) == model.bonus(vecs[1])
