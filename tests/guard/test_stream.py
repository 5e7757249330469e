"""Streamed answers: a secret split anywhere across chunks is masked whole; no half marker escapes."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from nexus.guard import Action, ChatGuard

from .secret_shapes import aws_secret_key, shapes

GUARD = ChatGuard()
OPEN_MARKER = re.compile(r"\[(?:SECRET|EMAIL|PHONE|CARD|IBAN|SSN|NINO)[^\]]*$")
SHAPES = shapes()


def run(chunks: list[str]) -> tuple[list[str], list[object]]:
    guard = GUARD.default.stream(door="http")
    pieces = [guard.feed(c) for c in chunks] + [guard.finish()]
    return pieces, list(guard.decisions)


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(SHAPES), st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_secret_split_anywhere_is_masked_and_markers_come_whole(
    shape: tuple[str, str, str], cuts: list[int]
) -> None:
    kind, value, context = shape
    text = f"{context} — and some more words after it so the window moves on. " * 2
    pieces, decisions = run(split(text, cuts))
    out = "".join(pieces)
    assert value not in out and value[:12] not in out
    assert out.count(f"[SECRET:{kind}]") == 2
    for piece in pieces:  # a marker is never cut across two pieces
        assert not OPEN_MARKER.search(piece), piece
    assert out.endswith("so the window moves on. ")
    # Each masked occurrence is reported once, for the audit log.
    assert sum(1 for d in decisions if getattr(d, "kind", None) == kind) == 2


def test_character_by_character_aws_secret_is_masked_once() -> None:
    secret = aws_secret_key()
    text = f"aws_secret_access_key = {secret}\nThat is all you need for the CLI to work."
    pieces, decisions = run(list(text))
    out = "".join(pieces)
    assert out == "aws_secret_access_key = [SECRET:aws_secret_key]\nThat is all you need for the CLI to work."
    assert [(d.kind, d.action, d.direction, d.door) for d in decisions] == [  # type: ignore[attr-defined]
        ("aws_secret_key", Action.mask, "output", "http")
    ]


def test_clean_stream_is_unchanged() -> None:
    text = "Tomatoes like sun, basil likes tomatoes; water them in the morning. " * 6
    pieces, decisions = run([text[i : i + 5] for i in range(0, len(text), 5)])
    assert "".join(pieces) == text and decisions == []
