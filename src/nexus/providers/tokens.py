"""A small, dependency-free token estimate (no tiktoken offline).

Word pieces: a short word or a punctuation mark is one token, a longer word one token per ~4
characters. Close enough to BPE counts on English prose and code to meter simulated calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PIECES = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    n = 0
    for piece in _PIECES.findall(text):
        n += 1 if len(piece) <= 4 else (len(piece) + 3) // 4
    return max(n, 1)


def estimate_prompt_tokens(texts: Iterable[str]) -> int:
    """Tokens of a chat prompt: each message's text plus the per-message framing OpenAI counts."""
    total = 3
    for t in texts:
        total += 4 + estimate_tokens(t)
    return total
