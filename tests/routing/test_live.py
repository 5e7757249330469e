"""Live traffic reaches the policy: a Meter subscriber feeds latencies and failures; an uncertain
classification falls back to the default model."""

from __future__ import annotations

from pathlib import Path

from nexus.config.catalogue import parse_catalogue
from nexus.config.settings import Settings
from nexus.embeddings import HashingEmbedder
from nexus.providers.metering import CallRecord, Meter
from nexus.routing.base import Classification
from nexus.routing.router import Router

CATALOGUE = """
models:
  - {id: coder, provider: demo, model: c, input_price_per_mtok: 1, output_price_per_mtok: 1, context_window: 1000}
  - {id: backup, provider: demo, model: d, input_price_per_mtok: 1, output_price_per_mtok: 1, context_window: 1000}
  - {id: chat, provider: demo, model: h, input_price_per_mtok: 0.1, output_price_per_mtok: 0.1, context_window: 1000}
roles: {default: chat}
workers: {code: coder, knowledge: backup, conversation: chat}
routing: {knn_k: 3, similarity_threshold: 0.9, cost_lambda: 0.0}
"""


class Fixed:
    def __init__(self, domain: str, p: float, uncertain: bool) -> None:
        self.out = Classification(
            domain=domain,  # type: ignore[arg-type]
            complexity="simple",
            domain_scores={domain: p, "knowledge": 1 - p},
            uncertain=uncertain,
        )

    def classify(self, text: str) -> Classification:
        return self.out


def _router(tmp_path: Path, classifier: Fixed) -> Router:
    router = Router.from_catalogue(
        parse_catalogue(CATALOGUE), Settings(data_dir=tmp_path), embedder=HashingEmbedder()
    )
    router.classifier = classifier
    return router


def _record(model: str, success: bool, latency: float = 100.0, simulated: bool = False) -> CallRecord:
    return CallRecord(
        model=model,
        provider="demo",
        upstream_model="x",
        role="worker",
        prompt_tokens=1,
        completion_tokens=1,
        cost_usd=0.0,
        latency_ms=latency,
        success=success,
        simulated=simulated,
    )


def test_meter_subscriber_feeds_latency_and_failures(tmp_path: Path) -> None:
    router = _router(tmp_path, Fixed("code", 0.6, uncertain=False))
    meter = Meter()
    meter.subscribe(router.observe_call)
    assert router.decide("refactor my function").model == "coder"

    meter.emit(_record("coder", success=True, latency=1234.0))
    assert router.latency.get("coder") == 1234.0
    for _ in range(10):
        meter.emit(_record("coder", success=False))
    decision = router.decide("refactor my function")
    # coder keeps failing: its utility drops below the next-best model's and the explanation says why.
    assert decision.model != "coder"
    assert decision.explanation.extra["error_rate"]["coder"] > 0.5
    for _ in range(30):
        meter.emit(_record("coder", success=True))
    assert router.decide("refactor my function").model == "coder"  # recovered


def test_simulated_and_unknown_calls_are_ignored(tmp_path: Path) -> None:
    router = _router(tmp_path, Fixed("code", 0.6, uncertain=False))
    router.observe_call(_record("coder", success=False, simulated=True))
    router.observe_call(_record("not-in-catalogue", success=False))
    assert router.errors.rates() == {}


def test_uncertain_classification_routes_to_the_default(tmp_path: Path) -> None:
    sure = _router(tmp_path, Fixed("code", 0.4, uncertain=False)).decide("something odd")
    assert sure.explanation.rule == "domain" and sure.model == "backup"
    unsure = _router(tmp_path, Fixed("code", 0.4, uncertain=True)).decide("something odd")
    assert (unsure.model, unsure.explanation.rule) == ("chat", "abstain-default")
