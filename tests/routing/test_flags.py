"""Flag rules: complete short questions are answered, vague references get a clarifying question."""

from __future__ import annotations

import pytest

from nexus.routing.flags import annotate, is_ambiguous


@pytest.mark.parametrize(
    "text",
    ["What is 2+2?", "what is 15% of 80?", "what's 7*8", "is 91 prime?", "2^10 = ?", "how much is 3/4 of 12"],
)
def test_short_complete_questions_are_not_ambiguous(text: str) -> None:
    # Regression: numbers used to be invisible to the word rule, so these got a clarifying question.
    result = annotate(text, "math", {"math": 1.0}, method="embedding")
    assert not result.ambiguous and result.clarifying_question is None
    assert result.can_self_answer  # trivial arithmetic: the cheap self-answer model handles it


@pytest.mark.parametrize("text", ["fix it", "make it better", "what about the other one?", "do that again"])
def test_vague_references_stay_ambiguous(text: str) -> None:
    assert is_ambiguous(text)
    assert annotate(text, "knowledge", {}, method="embedding").clarifying_question


def test_uncertain_is_carried() -> None:
    assert annotate("hmm, tell me about the thing", "knowledge", {}, "embedding", uncertain=True).uncertain
