"""The LLM classifier with a scripted async `complete`: parsing, defaults and fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from nexus.embeddings import HashingEmbedder
from nexus.routing.classifier import Classifier
from nexus.routing.classifier_model import DomainModel
from nexus.routing.features import N_FEATURES
from nexus.routing.keywords import DOMAINS
from nexus.routing.llm_classifier import LLMClassifier, LLMParseError, parse_reply


@pytest.fixture(scope="module")
def fallback() -> Classifier:
    # A fixed model that always says "knowledge": the tests can tell which fields came from it.
    embedder = HashingEmbedder(dim=16)
    classes = tuple(sorted(DOMAINS))
    intercept = np.array([5.0 if c == "knowledge" else 0.0 for c in classes], np.float32)
    model = DomainModel(
        np.zeros((len(classes), 16 + N_FEATURES), np.float32), intercept, classes, embedder.name
    )  # type: ignore[arg-type]
    return Classifier(embedder=embedder, model=model)


def scripted(*replies: str | Exception) -> tuple[list[str], object]:
    prompts: list[str] = []
    queue = list(replies)

    async def complete(prompt: str) -> str:
        prompts.append(prompt)
        reply = queue.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return prompts, complete


async def test_fenced_json_with_trailing_text_and_wrong_case(fallback: Classifier) -> None:
    prompts, complete = scripted(
        'Sure!\n```json\n{"Domain": "CODE", "complexity": "Complex", "critical": "true"}\n```\nHope that helps.'
    )
    result = await LLMClassifier(complete, fallback).classify("my prod deploy is down, 500s everywhere")  # type: ignore[arg-type]
    assert result.method == "llm"
    assert result.domain == "code" and result.complexity == "complex" and result.critical
    assert result.domain_scores["code"] == 1.0
    assert "my prod deploy is down" in prompts[0] and "JSON" in prompts[0]


async def test_missing_fields_default_from_the_embedding_classifier(fallback: Classifier) -> None:
    _, complete = scripted('{"domain": "writing", "complexity": "enormous"}')
    base = fallback.classify("Write a haiku about tea.")
    result = await LLMClassifier(complete, fallback).classify("Write a haiku about tea.")  # type: ignore[arg-type]
    assert result.domain == "writing" and result.method == "llm"
    assert result.complexity == base.complexity  # "enormous" is not a complexity
    assert result.ambiguous == base.ambiguous and result.critical == base.critical


@pytest.mark.parametrize(
    "reply", ["I think it is code.", '{"domain": "cooking"}', "{not json}", '["code"]', RuntimeError("429")]
)
async def test_any_failure_falls_back(fallback: Classifier, reply: str | Exception) -> None:
    _, complete = scripted(reply)
    result = await LLMClassifier(complete, fallback).classify("hello there")  # type: ignore[arg-type]
    assert result.method == "embedding" and result.domain == "knowledge"


def test_parse_reply_rejects_replies_without_a_domain() -> None:
    with pytest.raises(LLMParseError):
        parse_reply('{"complexity": "simple"}')
    assert parse_reply('{"DOMAIN": " Math ", "ambiguous": false}') == {"domain": "math", "ambiguous": False}
