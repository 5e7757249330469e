"""A chat-format JSONL training set from question–answer pairs, validated before anything is uploaded."""

from __future__ import annotations

from collections.abc import Iterable

import orjson

MIN_EXAMPLES = 10  # OpenAI's minimum for a fine-tuning job
MAX_CHARS = 20_000  # per example: far below any model's context, catches pasted documents


class DatasetError(ValueError):
    """The examples cannot make a training set (too few, empty, too long)."""


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def build_dataset(pairs: Iterable[tuple[str, str]], system: str = "") -> list[dict[str, object]]:
    """Chat-format examples, duplicates (same question, normalised) dropped; DatasetError if unusable."""
    seen: set[str] = set()
    out: list[dict[str, object]] = []
    for i, (q, a) in enumerate(pairs):
        q, a = q.strip(), a.strip()
        if not q or not a:
            raise DatasetError(f"example {i} has an empty question or answer")
        if len(q) + len(a) > MAX_CHARS:
            raise DatasetError(f"example {i} is longer than {MAX_CHARS} characters")
        if _norm(q) in seen:
            continue
        seen.add(_norm(q))
        messages = [{"role": "system", "content": system}] if system else []
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        out.append({"messages": messages})
    if len(out) < MIN_EXAMPLES:
        raise DatasetError(f"{len(out)} distinct examples; a fine-tuning job needs at least {MIN_EXAMPLES}")
    return out


def to_jsonl(examples: list[dict[str, object]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in examples)


def questions(examples: list[dict[str, object]], limit: int = 20) -> tuple[str, ...]:
    """The user turns of the first examples: the registered model's routing prototypes."""
    out: list[str] = []
    for e in examples[:limit]:
        msgs = e.get("messages")
        if isinstance(msgs, list):
            out += [str(m["content"]) for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
    return tuple(out)
