"""The classifier on clear prompts, its flags, the keyword fallback and `nexus classify`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nexus.config.settings import Settings
from nexus.routing.classifier import Classifier
from nexus.routing.keywords import KeywordClassifier
from nexus.routing.subtasks import split_subtasks

CLEAR = {
    "code": [
        "Traceback (most recent call last):\n  File \"a.py\", line 3\nKeyError: 'user'\nhow do I fix this?",
        "Write a Python function that merges two sorted lists.",
    ],
    "math": ["Solve for x: 5x - 3 = 17.", "What is the integral of x^2 from 0 to 3?"],
    "writing": [
        "Write a short poem about the sea at night.",
        "Draft a polite email asking my manager for a day off.",
    ],
    "finance": [
        "Should I put more into my 401k or pay off my mortgage faster?",
        "Build a DCF for a company with $20M free cash flow and an 9% WACC.",
    ],
    "conversation": ["hey there!", "thanks so much, that helped"],
    "knowledge": ["Who wrote Pride and Prejudice?", "Explain how vaccines train the immune system."],
}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    # The real MiniLM embedder; the trained model is cached in a per-session data dir.
    from nexus.embeddings.shared import build_embedder, routing_view

    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    return Classifier(embedder=routing_view(build_embedder(settings)), settings=settings)


@pytest.mark.parametrize("domain", sorted(CLEAR))
def test_clear_prompts_get_their_domain(classifier: Classifier, domain: str) -> None:
    for result in classifier.classify_batch(CLEAR[domain]):
        assert result.domain == domain
        assert result.method == "embedding"
        assert abs(sum(result.domain_scores.values()) - 1.0) < 1e-3


def test_twenty_thousand_character_code_dump_is_code(classifier: Classifier) -> None:
    import random

    from nexus.routing.augment import code_dump

    rng = random.Random(12345)  # not the training seed: these exact dumps were never trained on
    for _ in range(5):
        dump = code_dump(rng, 20_000)
        assert len(dump) >= 20_000
        result = classifier.classify(dump)
        assert result.domain == "code", (result.domain_scores, dump[-200:])
    # A real-looking paste: a long module, then the question at the very end.
    module = "\n".join(
        f"def handler_{i}(event, context):\n    payload = json.loads(event['body'])\n"
        f"    if not payload.get('id'):\n        raise ValueError('missing id')\n    return {{'status': {i}}}\n"
        for i in range(200)
    )
    assert len(module) > 20_000
    assert classifier.classify(module + "\n\nwhy does handler_3 raise on an empty body?").domain == "code"


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("Wie viel Prozent sind 45 von 180?", "math"),
        ("Escribe un poema corto sobre la lluvia en la ciudad.", "writing"),
        ("我的Python程序报错 KeyError，怎么解决？", "code"),
        ("Quel est le meilleur moyen d'épargner pour la retraite ?", "finance"),
    ],
)
def test_other_languages(classifier: Classifier, text: str, domain: str) -> None:
    assert classifier.classify(text).domain == domain


def test_calibrated_and_uncertain(classifier: Classifier) -> None:
    from nexus.routing.classifier_model import DomainModel, packaged_path

    model = DomainModel.load(packaged_path("all-MiniLM-L6-v2"))
    assert model.temperature != 1.0 and 0.2 < model.uncertain_below < 0.9  # calibration ran
    clear = classifier.classify("Write a Python function that merges two sorted lists.")
    assert not clear.uncertain and clear.domain_scores["code"] > model.uncertain_below
    # A prompt with no domain at all gets a low top probability, and says so.
    vague = classifier.classify("ok so about the thing from before, the second part")
    assert vague.uncertain == (max(vague.domain_scores.values()) < model.uncertain_below)


def test_flags(classifier: Classifier) -> None:
    hi = classifier.classify("Hi, how are you?")
    assert hi.can_self_answer and not hi.ambiguous and hi.complexity == "trivial"

    vague = classifier.classify("fix it")
    assert vague.ambiguous and not vague.can_self_answer
    assert vague.clarifying_question and "it" in vague.clarifying_question

    for text in (
        "I have crushing chest pain and my left arm is numb, what should I do?",
        "Production is down: every request to our payments API returns 500 since the deploy.",
        "Should I move my entire $400,000 retirement savings into one stock?",
    ):
        assert classifier.classify(text).critical, text
    assert not classifier.classify("Write a haiku about tea.").critical

    long_brief = (
        "Design a distributed rate limiter with Redis, explain the trade-offs, and implement it in Go. " * 4
    )
    assert classifier.classify(long_brief).complexity == "complex"


def test_subtasks_are_split(classifier: Classifier) -> None:
    result = classifier.classify(
        "1) Summarise the plot of Hamlet. 2) Write a haiku about Denmark. 3) What is 12% of 250?"
    )
    assert result.subtasks == [
        "Summarise the plot of Hamlet.",
        "Write a haiku about Denmark.",
        "What is 12% of 250?",
    ]
    assert split_subtasks("Explain recursion in Python. Also, write a limerick about a cat.") == [
        "Explain recursion in Python.",
        "write a limerick about a cat.",
    ]
    assert split_subtasks("Can you review this function? It fails when the list is empty.") == []


class _BrokenEmbedder:
    name = "broken"
    dim = 8

    def embed(self, texts: list[str]) -> np.ndarray:
        raise RuntimeError("backend down")


def test_embedder_failure_falls_back_to_keywords(tmp_path: Path) -> None:
    classifier = Classifier(embedder=_BrokenEmbedder(), settings=Settings(data_dir=tmp_path))
    result = classifier.classify("Write a poem about autumn")
    assert result.method == "keywords"
    assert result.domain == "writing"
    assert classifier.classify("thanks!").domain == "conversation"


def test_keyword_classifier_shape() -> None:
    result = KeywordClassifier().classify("docker compose fails with a KeyError in my python service")
    assert result.domain == "code" and result.method == "keywords"


def test_classify_cli(tmp_path: Path, classifier: Classifier, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from nexus.cli import classify as cli

    monkeypatch.setattr("nexus.routing.classifier.Classifier", lambda: classifier)  # imported lazily
    app = typer.Typer()
    app.command()(cli.classify_cmd)
    good = tmp_path / "in.jsonl"
    good.write_text(
        '{"id": "a", "prompt": "hello!"}\n{"id": 2, "prompt": "Solve 2x = 10"}\n', encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["--input", str(good), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", 2]
    assert list(rows[0]) == [
        "id",
        "domain",
        "complexity",
        "can_self_answer",
        "ambiguous",
        "critical",
        "subtasks",
    ]
    assert rows[1]["domain"] == "math"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": \n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--input", str(bad), "--output", str(out)])
    assert result.exit_code == 2
    assert "bad.jsonl:2" in result.output


def test_shipped_weights_match_the_training_data() -> None:
    # Fails when someone edits the training data without `python -m nexus.routing.train`.
    from nexus.routing.classifier_model import DomainModel, packaged_path, training_data_hash
    from nexus.routing.keywords import DOMAINS

    model = DomainModel.load(packaged_path("all-MiniLM-L6-v2"))
    assert model.data_hash == training_data_hash()
    assert model.embedder == "all-MiniLM-L6-v2"
    assert model.classes == tuple(sorted(DOMAINS))


def test_fresh_data_dir_loads_shipped_weights_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus.routing import classifier_model

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the shipped weights should have been used")

    monkeypatch.setattr(classifier_model, "train", no_training)

    class _Named:
        name = "all-MiniLM-L6-v2"
        dim = 384

        def embed(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 384), np.float32)

    model = classifier_model.load_or_train(_Named())
    assert model.embedder == "all-MiniLM-L6-v2"


def test_other_embedder_trains_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nexus.embeddings import HashingEmbedder
    from nexus.routing import classifier_model

    monkeypatch.setenv("NEXUS_CACHE_DIR", str(tmp_path))
    from nexus.routing.corpus import training_examples

    small = training_examples(augmented=False)[::25]
    trained = classifier_model.train(HashingEmbedder(dim=32), small)
    monkeypatch.setattr(classifier_model, "train", lambda embedder: trained)
    model = classifier_model.load_or_train(HashingEmbedder(dim=32))
    assert model.embedder == "hashing-32"
    assert list((tmp_path / "classifier").glob("classifier-hashing-32-*.npz"))
    monkeypatch.setattr(classifier_model, "train", None)  # a second load must not train
    assert classifier_model.load_or_train(HashingEmbedder(dim=32)).coef.shape == model.coef.shape


def test_routing_a_twenty_thousand_character_code_dump_goes_to_the_code_worker(
    classifier: Classifier, tmp_path: Path
) -> None:
    """The whole decision (embed with the routing budget, classify, KNN, policy) on a 20k-character dump."""
    import random

    from tests.routing.test_policy import CATALOGUE

    from nexus.config.catalogue import parse_catalogue
    from nexus.routing.augment import code_dump
    from nexus.routing.router import Router

    router = Router.from_catalogue(
        parse_catalogue(CATALOGUE),
        Settings(data_dir=tmp_path),
        embedder=classifier.embedder,
        classifier=classifier,
    )
    for seed in (777, 778):
        dump = code_dump(random.Random(seed), 20_000)
        assert len(dump) >= 20_000
        decision = router.decide(dump)
        assert decision.explanation.classification is not None
        assert decision.explanation.classification.domain == "code", decision.explanation.classification
        assert decision.model == "coder", decision.explanation.reason
