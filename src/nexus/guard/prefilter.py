"""A linear-time prefilter: many Python regexes, widened into one RE2 set, scanned in one pass.

Python's `re` costs 10–80 µs per pattern on a 500-character prompt (case-insensitive alternations
cannot use its literal-prefix search) and backtracks; the guard runs ~50 patterns per text. RE2
(google-re2) runs all of them as one DFA in a few µs, in time linear in the text. RE2 lacks
lookarounds and back-references, so each pattern is translated from its parse tree into a *superset*
(lookarounds and `\\b` dropped, back-references and long counted repeats widened, Python's Unicode
`\\w`, `\\s`, `\\d` spelled out): a pattern the set does not report cannot match, and only the
reported ones run in `re`, which keeps the exact semantics and the spans.

Where RE2 is not installed or a pattern cannot be translated, that pattern simply always runs: the
prefilter changes speed, never results (tests compare both paths on the evaluation corpora).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

log = logging.getLogger(__name__)

try:  # optional at import time so a platform without a wheel still works (slower)
    import re2 as _re2  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - exercised only where google-re2 is missing
    _re2 = None

# Counted repeats up to this bound stay exact (a 40-character key stays 40); longer ones widen to
# `{min,}` / `*` so the DFA stays small.
_MAX_COUNT = 64
_MAX_MEM = 64 << 20
# Python's `\s`, `\w` and `\d` on str are Unicode-aware; RE2's are ASCII. A category widens to its
# ASCII members plus every non-ASCII character (negated: the complement of its ASCII members), a
# superset with a much smaller DFA than exact Unicode tables (measured: 25% faster on 20k texts).
_HIGH = r"\x{80}-\x{10ffff}"
_ASCII = {"DIGIT": r"0-9", "SPACE": r"\t-\r\x{1c}-\x{20}", "WORD": r"0-9A-Za-z_"}
_ANY = r"(?s:.)"


class Untranslatable(ValueError):
    """A construct the superset translation does not handle; the pattern then always runs."""


class _AnyChar(Exception):
    """A class the translation cannot narrow (`[\\s\\S]`, `[^\\S\\n]`): widened to any character."""


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


def _category(cat: Any, where: str) -> str:
    """`where`: "out" (bare `\\w`), "in" (inside `[...]`), "neg" (inside `[^...]`)."""
    name = getattr(cat, "name", str(cat)).upper()
    for key, ascii_part in _ASCII.items():
        if name.endswith(f"NOT_{key}"):
            if where != "out":
                raise _AnyChar
            return f"[^{ascii_part}]"
        if name.endswith(key):
            if where == "out":
                return f"[{ascii_part}{_HIGH}]"
            # Excluding only the ASCII members from a negated class keeps it a superset.
            return ascii_part if where == "neg" else ascii_part + _HIGH
    raise Untranslatable(f"category {name}")


def _class(items: list[tuple[Any, Any]]) -> str:
    negate = bool(items) and items[0][0] is sre_c.NEGATE
    parts: list[str] = []
    try:
        for op, av in items[1:] if negate else items:
            if op is sre_c.LITERAL:
                parts.append(_char(av))
            elif op is sre_c.RANGE:
                parts.append(f"{_char(av[0])}-{_char(av[1])}")
            elif op is sre_c.CATEGORY:
                parts.append(_category(av, "neg" if negate else "in"))
            else:
                raise Untranslatable(f"class item {op}")
    except _AnyChar:
        return _ANY
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def _repeat(lo: int, hi: int, body: str) -> str:
    unbounded = hi is sre_c.MAXREPEAT or hi > _MAX_COUNT
    if not unbounded:
        return f"(?:{body}){{{lo},{hi}}}"
    if lo == 0:
        return f"(?:{body})*"
    return f"(?:{body}){{{min(lo, _MAX_COUNT)},}}"


def _emit(sub: Any, dotall: bool) -> str:
    out: list[str] = []
    for op, av in sub.data if hasattr(sub, "data") else sub:
        if op is sre_c.LITERAL:
            out.append(_char(av))
        elif op is sre_c.NOT_LITERAL:
            out.append(f"[^{_char(av)}]")
        elif op is sre_c.ANY:
            out.append(_ANY if dotall else r"[^\n]")
        elif op is sre_c.IN:
            out.append(_class(av))
        elif op is sre_c.CATEGORY:
            out.append(_category(av, "out"))
        elif op is sre_c.BRANCH:
            out.append("(?:" + "|".join(_emit(alt, dotall) for alt in av[1]) + ")")
        elif op is sre_c.SUBPATTERN:
            _group, add, delete, body = av
            inner_dotall = (dotall or bool(add & sre_c.SRE_FLAG_DOTALL)) and not (
                delete & sre_c.SRE_FLAG_DOTALL
            )
            flags = ("i" if add & sre_c.SRE_FLAG_IGNORECASE else "") + (
                "-i" if delete & sre_c.SRE_FLAG_IGNORECASE else ""
            )
            out.append(f"(?{flags}:{_emit(body, inner_dotall)})")
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
            lo, hi, body = av
            out.append(_repeat(lo, hi, _emit(body, dotall)))
        elif op is sre_c.ATOMIC_GROUP:
            out.append(f"(?:{_emit(av, dotall)})")
        elif op is sre_c.AT:
            out.append(_at(av))
        elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            continue  # dropping a lookaround only widens the language
        elif op in (sre_c.GROUPREF, sre_c.GROUPREF_EXISTS):
            out.append(_ANY + "*")
        else:
            raise Untranslatable(f"opcode {op}")
    return "".join(out)


def _at(code: Any) -> str:
    if code in (sre_c.AT_BOUNDARY, sre_c.AT_NON_BOUNDARY):
        return ""  # word boundaries dropped: RE2's are ASCII-only, Python's are Unicode
    if code in (sre_c.AT_BEGINNING, sre_c.AT_BEGINNING_LINE):
        return "(?m:^)"
    if code in (sre_c.AT_END, sre_c.AT_END_LINE):
        return "(?m:$)"  # wider than Python's `$`, which also matches before a final newline
    if code is sre_c.AT_BEGINNING_STRING:
        return r"\A"
    if code is sre_c.AT_END_STRING:
        return r"\z"
    raise Untranslatable(f"anchor {code}")


def widen(pattern: re.Pattern[str]) -> str:
    """RE2 source matching (at least) every string `pattern` finds a match in."""
    if pattern.flags & (re.ASCII | re.LOCALE):
        raise Untranslatable("ASCII/LOCALE flags")
    tree = sre_parse.parse(pattern.pattern, pattern.flags)
    flags = tree.state.flags
    body = _emit(tree, bool(flags & re.DOTALL))
    return ("(?i)" if flags & re.IGNORECASE else "") + body


class Prefilter:
    """Which of `patterns` may match a text, from one RE2 pass. Indices follow `patterns`."""

    def __init__(self, patterns: Sequence[re.Pattern[str]], *, enabled: bool = True) -> None:
        self.size = len(patterns)
        self._all = frozenset(range(self.size))
        self._always: set[int] = set()
        self._set: Any = None
        self._index: dict[int, int] = {}
        if not enabled or _re2 is None:
            return
        options = _re2.Options()
        options.max_mem = _MAX_MEM
        rset = _re2.Set.SearchSet(options)
        # A sentinel that matches every text: its absence from a result means RE2 gave up (DFA out of
        # memory), which must read as "run everything", never as "nothing matched".
        self._sentinel = rset.Add("")
        for i, pattern in enumerate(patterns):
            try:
                self._index[rset.Add(widen(pattern))] = i
            except (Untranslatable, _re2.error, re.error) as exc:
                log.debug("prefilter: pattern %d always runs (%s)", i, exc)
                self._always.add(i)
        rset.Compile()
        self._set = rset

    @property
    def active(self) -> bool:
        return self._set is not None

    def candidates(self, text: str) -> frozenset[int] | set[int]:
        if self._set is None:
            return self._all
        hits = self._set.Match(text)
        if not hits or self._sentinel not in hits:
            return self._all
        found = {self._index[h] for h in hits if h != self._sentinel}
        return found | self._always if self._always else found
