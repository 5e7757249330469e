"""Split a request holding several independent asks into subtask strings ([] when it is one task)."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```.*?(```|$)", re.DOTALL)
_NUMBERED_LINE = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|[-*•])\s+(.+?)\s*$", re.MULTILINE)
_INLINE_NUMBERED = re.compile(r"(?:^|\s)\(?(\d{1,2})\)\s+")
_ORDINAL = re.compile(
    r"(?:^|(?<=[.?!])\s+)(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|then|finally|also|additionally|and also|lastly)"
    r"\s*,?\s+",
    re.IGNORECASE,
)
_ASK_VERBS = (
    "write|draft|explain|translate|give|list|make|create|tell|summari[sz]e|compute|calculate|convert|find|"
    "fix|add|describe|compare|suggest|generate|compose|build|implement|review|plan|show|solve|what|how|why|"
    "who|which|when|where|can|could|please"
)
_THEN_ASK = re.compile(rf",?\s+and (?:then |also )(?=(?:{_ASK_VERBS})\b)", re.IGNORECASE)
_ASK_START = re.compile(rf"^(?:{_ASK_VERBS})\b", re.IGNORECASE)


def _clean(parts: list[str]) -> list[str]:
    out = [p.strip(" \t\n,;") for p in parts]
    return [p for p in out if len(p.split()) >= 2 or p.endswith("?")]


def _looks_like_ask(part: str) -> bool:
    return bool(_ASK_START.match(part)) or part.rstrip().endswith("?")


def split_subtasks(text: str) -> list[str]:
    # Numbers and dashes inside code are not a list of asks.
    prose = _FENCE.sub(" ", text)

    items = _NUMBERED_LINE.findall(prose)
    if len(items) >= 2 and sum(_looks_like_ask(i) for i in items) * 2 >= len(items):
        return _clean(items)

    inline = _INLINE_NUMBERED.split(prose)
    if len(inline) >= 5:  # preamble, "1", task, "2", task, …
        tasks = _clean(inline[2::2])
        if len(tasks) >= 2:
            return tasks

    parts = _ORDINAL.split(prose)
    if len(parts) >= 2:
        tasks = _clean(parts)
        if len(tasks) >= 2 and all(_looks_like_ask(t) or len(t.split()) >= 3 for t in tasks):
            return tasks

    parts = _THEN_ASK.split(prose)
    if len(parts) >= 2:
        tasks = _clean(parts)
        if len(tasks) >= 2:
            return tasks
    return []
