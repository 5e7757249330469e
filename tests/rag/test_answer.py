"""Answers with verified citations, through a scripted model (the `complete` callable)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from nexus.rag.answer import Messages, RagEvent, answer
from nexus.rag.citations import NO_ANSWER, NOT_FOUND, verify
from nexus.rag.compress import Passage, compress
from nexus.rag.service import RagService
from nexus.rag.types import SearchHit
from nexus.store import TenantScope

ME = TenantScope("me")
PUMP = b"""# Pump manual

## Pressure

The main pump runs at 40 bar during normal operation. Above 55 bar the relief valve opens.

## Maintenance

Replace the pump seals every 2000 operating hours. Use only silicone grease on the seals.
"""


def _hit(text: str, start: int = 100) -> SearchHit:
    return SearchHit(
        "vs_1",
        "file-1",
        "manual.md",
        "file-1-00000",
        "Pump manual",
        "Pressure",
        text,
        1.0,
        start,
        start + len(text),
    )


def test_verify_keeps_supported_claims_and_marks_the_rest() -> None:
    text = "The main pump runs at 40 bar during normal operation. Above 55 bar the relief valve opens."
    passages = [Passage(1, _hit(text), ((0, len(text)),))]
    result = verify(
        "The pump runs at 40 bar in normal operation [1]. The relief valve is painted red [1]. "
        "The pump was designed in Norway by a famous engineer.",
        passages,
    )
    assert result.answerable
    supported, painted, norway = result.claims
    assert supported.supported and not painted.supported and not norway.supported
    cite = supported.citations[0]
    # The cited chunk contains the quote, and the offsets point at it in the document.
    assert cite.quote in text and cite.quote == "The main pump runs at 40 bar during normal operation."
    assert (cite.start, cite.end) == (100, 100 + len(cite.quote))
    assert painted.rejected == (1,)
    assert result.text.count("[unsupported]") == 2 and "[1]" in result.text
    assert set(result.unsupported) == {painted.text, norway.text}


def test_a_quote_must_appear_verbatim() -> None:
    text = "Replace the pump seals every 2000 operating hours."
    passages = [Passage(1, _hit(text), ((0, len(text)),))]
    ok = verify('The manual says "every 2000 operating hours" for the pump seals [1].', passages)
    assert ok.claims[0].supported
    bad = verify('The manual says "every 3000 operating hours" for the pump seals [1].', passages)
    assert not bad.claims[0].supported


def test_citing_a_source_that_does_not_exist_is_not_support() -> None:
    text = "Replace the pump seals every 2000 operating hours."
    result = verify(
        "Replace the pump seals every 2000 hours [7].", [Passage(1, _hit(text), ((0, len(text)),))]
    )
    assert not result.claims[0].supported and result.claims[0].rejected == (7,)


def test_compress_keeps_supporting_sentences_within_budget() -> None:
    hit = _hit("Alpha beta gamma. The relief valve opens above 55 bar. Unrelated words here entirely.")
    passages = compress("when does the relief valve open", [hit], budget_tokens=12)
    assert [hit.text[s:e] for s, e in passages[0].spans] == ["The relief valve opens above 55 bar."]


async def _events(rag: RagService, question: str, reply: str, cid: str) -> list[RagEvent]:
    seen: list[Messages] = []

    async def complete(messages: Messages) -> AsyncIterator[str]:
        seen.append(messages)
        for word in reply.split(" "):
            yield word + " "

    events = [e async for e in answer(rag, ME, [cid], question, complete)]
    if seen:
        assert "[1]" in seen[0][1]["content"] and question in seen[0][1]["content"]
    return events


async def test_answer_streams_every_step_with_verified_citations(rag: RagService) -> None:
    c = await rag.create_collection(ME, "manuals")
    await rag.add_file(ME, c.id, PUMP, "pump.md")
    await rag.jobs.drain()  # type: ignore[attr-defined]
    events = await _events(
        rag,
        "How often should the pump seals be replaced?",
        "Replace the pump seals every 2000 operating hours [1]. The seals are made of gold [1].",
        c.id,
    )
    assert [e.type for e in events if e.type != "token"] == ["retrieved", "reranked", "compressed", "final"]
    assert sum(e.type == "token" for e in events) > 3
    final = events[-1].data
    assert final["answerable"]
    (cite,) = final["citations"]
    assert cite["filename"] == "pump.md" and "2000 operating hours" in cite["quote"]
    from nexus.rag.parsing import parse

    assert parse(PUMP, "pump.md").text[cite["start"] : cite["end"]] == cite["quote"]
    assert final["unsupported"] == ["The seals are made of gold."]


async def test_a_question_the_documents_cannot_answer_says_so(rag: RagService) -> None:
    c = await rag.create_collection(ME, "manuals")
    await rag.add_file(ME, c.id, PUMP, "pump.md")
    await rag.jobs.drain()  # type: ignore[attr-defined]
    events = await _events(rag, "Who won the 1954 football world cup?", NOT_FOUND, c.id)
    assert events[-1].data["answer"] == NO_ANSWER and not events[-1].data["answerable"]
    # An empty collection: the model is not even asked.
    empty = await rag.create_collection(ME, "empty")
    events = await _events(rag, "How often should the seals be replaced?", "should not be called", empty.id)
    assert events[-1].data["answer"] == NO_ANSWER
