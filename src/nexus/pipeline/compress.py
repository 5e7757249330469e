"""Fit a conversation into the target model's context window.

Old turns are summarised by the compressor model (or, if that fails, dropped) while the last
`keep_last_turns` messages stay verbatim; a single message that is still too long keeps its head
and tail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Summarise = Callable[[list[dict[str, Any]]], Awaitable[str]]

# Room left for the answer and the system prompt.
BUDGET_SHARE = 0.7


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "")) // 4 + 4 for m in messages)


@dataclass(slots=True)
class Compressed:
    messages: list[dict[str, Any]]
    before_tokens: int
    after_tokens: int
    summarised: int = 0
    dropped: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.summarised > 0 or self.dropped > 0 or bool(self.notes)


async def compress(
    messages: list[dict[str, Any]], context_window: int, keep_last: int, summarise: Summarise | None
) -> Compressed:
    budget = int(context_window * BUDGET_SHARE)
    before = estimate_tokens(messages)
    if before <= budget:
        return Compressed(messages, before, before)
    system = [m for m in messages if m.get("role") == "system"]
    turns = [m for m in messages if m.get("role") != "system"]
    old, recent = turns[:-keep_last], turns[-keep_last:]
    out = Compressed(messages, before, before)
    head: list[dict[str, Any]] = []
    if old:
        summary = None
        if summarise is not None:
            try:
                summary = await summarise(old)
            except Exception as exc:  # a failed summary degrades to trimming, never fails the run
                out.notes.append(f"summary failed ({type(exc).__name__}): old turns dropped")
        if summary:
            head = [{"role": "system", "content": f"Summary of the earlier conversation: {summary}"}]
            out.summarised = len(old)
        else:
            out.dropped = len(old)
    kept = [*system, *head, *recent]
    if estimate_tokens(kept) > budget:
        per_message = max(64, budget * 4 // max(1, len(kept)))
        kept = [_trim(m, per_message) for m in kept]
        out.notes.append("long messages trimmed to head and tail")
    out.messages = kept
    out.after_tokens = estimate_tokens(kept)
    return out


def _trim(message: dict[str, Any], max_chars: int) -> dict[str, Any]:
    text = str(message.get("content") or "")
    if len(text) <= max_chars:
        return message
    half = max_chars // 2
    return {**message, "content": text[:half] + "\n[…trimmed…]\n" + text[-half:]}
