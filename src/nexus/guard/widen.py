"""Translate a Python regex into RE2 syntax for a language that *contains* it (a superset).

Walks the pattern's parse tree (`re._parser`) and drops or widens what RE2 cannot or should not do:
- lookarounds and `\\b` are dropped; back-references widen to "anything"; Python's Unicode `\\w`,
  `\\s`, `\\d` become their ASCII members plus every non-ASCII character;
- gaps are cut: a repeat of a broad class (`[^\\n]{0,160}`, `\\w+`, `[A-Za-z0-9]{20,}`) ends the
  pattern there (a prefix of a match is still found), or is skipped when nothing came before it.
  Such loops make a DFA remember, for every pattern at once, which prefixes it has seen: on code,
  logs or base64 the states multiplied and RE2 rebuilt its cache on every text (measured 60-280 ms
  on 20k characters, against ~1 ms cut);
- `exact` keeps counts and gaps (for a few small "feature" patterns);
- `leet` also accepts what the injection check's second reading (`deobfuscate`) would turn into a
  match: leetspeak digits for letters, and `_ , . -` or runs of blanks where the pattern has a space.
"""

from __future__ import annotations

import re
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_HIGH = r"\x{80}-\x{10ffff}"
_ASCII = {"DIGIT": r"0-9", "SPACE": r"\t-\r\x{1c}-\x{20}", "WORD": r"0-9A-Za-z_"}
_SIZE = {"DIGIT": 10, "SPACE": 10, "WORD": 63}
_ANY = r"(?s:.)"
_BROAD = 26  # a class with more ASCII members than this is "broad"
_MAX_COUNT = 64
_LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7", "b": "8"}
_GLUE = r"_,.\x{2d}"  # what deobfuscate turns into a space
_BLANK = r"[ \t" + _GLUE + "]+"
_REPEATS = (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT)


class Untranslatable(ValueError):
    """A construct the translation does not handle; the pattern then always runs."""


class _AnyChar(Exception):
    """A class that cannot be narrowed (`[\\s\\S]`, `[^\\S\\n]`): widened to any character."""


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


def _cat(av: Any) -> tuple[str, bool]:
    name = getattr(av, "name", str(av)).upper()
    for key in _ASCII:
        if name.endswith(key):
            return key, "NOT_" in name
    raise Untranslatable(f"category {name}")


def _class_size(item: tuple[Any, Any]) -> int:
    op, av = item
    if op in (sre_c.ANY, sre_c.NOT_LITERAL):
        return 128
    if op is sre_c.CATEGORY:
        key, negated = _cat(av)
        return 128 if negated else _SIZE[key]
    if op is not sre_c.IN:
        return 0
    size = 0
    for kind, value in av:
        if kind is sre_c.NEGATE:
            return 128
        if kind is sre_c.RANGE:
            size += value[1] - value[0] + 1
        elif kind is sre_c.CATEGORY:
            size += _class_size((sre_c.CATEGORY, value))
        else:
            size += 1
    return size


def _items(body: Any) -> list[tuple[Any, Any]]:
    return list(body.data if hasattr(body, "data") else body)


class _Widener:
    def __init__(self, exact: bool, leet: bool, ignorecase: bool) -> None:
        self.exact = exact
        self.leet = leet
        self.ignorecase = ignorecase

    def is_gap(self, op: Any, av: Any) -> bool:
        if self.exact:
            return False
        if op in (sre_c.GROUPREF, sre_c.GROUPREF_EXISTS):
            return True
        if op not in _REPEATS or (av[1] is not sre_c.MAXREPEAT and av[1] <= 1):
            return False
        inner = _items(av[2])
        if len(inner) == 1 and _class_size(inner[0]) > _BROAD:
            return True
        # A repeated group holding a broad class or a loop over one: `(?:\w+\s+){0,2}`.
        return any(_class_size(i) > _BROAD or (i[0] in _REPEATS and self.is_gap(*i)) for i in inner)

    def seq(self, sub: Any, dotall: bool, at_start: bool = False) -> tuple[str, bool]:
        """The widened sequence, and whether it was cut at a gap (nothing after it may follow).

        `at_start`: nothing precedes this sequence in the pattern, so a leading gap can be skipped
        (the rest is searched alone); anywhere else a gap cuts."""
        out: list[str] = []
        single = False  # all that was emitted is one leading character class: too weak to keep
        for op, av in _items(sub):
            start = at_start and not "".join(out)
            if self.is_gap(op, av):
                if single:  # `[a-z][a-z0-9+.-]{1,20}://`: search for "://" rather than a letter
                    out, single, start = [], False, True
                if not start:
                    return "".join(out), True
                continue
            single = start and op in (sre_c.IN, sre_c.CATEGORY)
            if op in _REPEATS:
                lo, hi, body = av
                inner, cut = self.seq(body, dotall, start and lo >= 1)
                if cut:
                    if lo >= 1:
                        out.append(f"(?:{inner})")
                    return "".join(out), True
                out.append(self.repeat(lo, hi, inner))
            elif op is sre_c.SUBPATTERN:
                _group, add, delete, body = av
                inner_dotall = (dotall or bool(add & sre_c.SRE_FLAG_DOTALL)) and not (
                    delete & sre_c.SRE_FLAG_DOTALL
                )
                flags = ("i" if add & sre_c.SRE_FLAG_IGNORECASE else "") + (
                    "-i" if delete & sre_c.SRE_FLAG_IGNORECASE else ""
                )
                saved = self.ignorecase
                self.ignorecase = (saved or "i" in flags.replace("-i", "")) and "-i" not in flags
                inner, cut = self.seq(body, inner_dotall, start)
                self.ignorecase = saved
                out.append(f"(?{flags}:{inner})")
                if cut:
                    return "".join(out), True
            elif op is sre_c.ATOMIC_GROUP:
                inner, cut = self.seq(av, dotall, start)
                out.append(f"(?:{inner})")
                if cut:
                    return "".join(out), True
            elif op is sre_c.BRANCH:
                alts = [self.seq(alt, dotall, start) for alt in av[1]]
                out.append("(?:" + "|".join(a for a, _ in alts) + ")")
                if any(cut for _, cut in alts):
                    return "".join(out), True
            elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
                continue  # dropping a lookaround only widens the language
            elif op is sre_c.AT:
                out.append(_at(av))
            else:
                out.append(self.atom(op, av, dotall))
        return "".join(out), False

    def repeat(self, lo: int, hi: int, body: str) -> str:
        if self.exact and hi is not sre_c.MAXREPEAT and hi <= _MAX_COUNT:
            return f"(?:{body}){{{lo},{hi}}}"
        if hi is not sre_c.MAXREPEAT and hi <= _MAX_COUNT and len(body) <= 400:
            return f"(?:{body}){{{lo},{hi}}}"
        if lo > 1:
            return f"(?:{body}){{{min(lo, _MAX_COUNT)},}}"
        return f"(?:{body})" + ("*" if lo == 0 else "+")

    def atom(self, op: Any, av: Any, dotall: bool) -> str:
        if op is sre_c.LITERAL:
            return self.literal(av)
        if op is sre_c.NOT_LITERAL:
            return f"[^{_char(av)}]" + ("+" if self.leet else "")
        if op is sre_c.ANY:
            return (_ANY if dotall else r"[^\n]") + ("+" if self.leet else "")
        if op is sre_c.IN:
            return self.klass(av)
        if op is sre_c.CATEGORY:
            key, negated = _cat(av)
            if negated and self.leet and key != "SPACE":
                # \W and \D: deobfuscate turns `_` into a space and digits into letters.
                return _ANY + "+"
            if negated:
                return f"[^{_ASCII[key]}]"
            if self.leet and key == "SPACE":
                return f"[{_ASCII[key]}{_HIGH}{_GLUE}]+"
            return f"[{_ASCII[key]}{_HIGH}]"
        raise Untranslatable(f"opcode {op}")

    def literal(self, code: int) -> str:
        ch = chr(code)
        if self.leet and ch in " \t":
            return _BLANK
        digit = _LEET.get(ch.lower() if self.ignorecase else ch) if self.leet else None
        return f"[{_char(code)}{digit}]" if digit else _char(code)

    def klass(self, items: list[tuple[Any, Any]]) -> str:
        negate = bool(items) and items[0][0] is sre_c.NEGATE
        parts: list[str] = []
        members: set[str] = set()
        try:
            for op, av in items[1:] if negate else items:
                if op is sre_c.LITERAL:
                    parts.append(_char(av))
                    members.add(chr(av))
                elif op is sre_c.RANGE:
                    parts.append(f"{_char(av[0])}-{_char(av[1])}")
                    members.update(chr(c) for c in range(av[0], min(av[1], 127) + 1))
                elif op is sre_c.CATEGORY:
                    key, negated = _cat(av)
                    if negated:
                        raise _AnyChar
                    # Excluding only the ASCII members from a negated class keeps it a superset.
                    parts.append(_ASCII[key] if negate else _ASCII[key] + _HIGH)
                    members.update(" \t" if key == "SPACE" else "")
                else:
                    raise Untranslatable(f"class item {op}")
        except _AnyChar:
            return _ANY + ("+" if self.leet else "")
        if negate and self.leet:
            # A character deobfuscate produced may come from an excluded digit or glue character.
            if len(members) != len(parts):
                return _ANY + "+"
            kept = sorted(members - set(_LEET.values()) - set("_,.- \t"))
            return f"[^{''.join(_char(ord(c)) for c in kept)}]+" if kept else _ANY + "+"
        if negate:
            return f"[^{''.join(parts)}]"
        if self.leet:
            lowered = {m.lower() for m in members} if self.ignorecase else members
            parts += [d for letter, d in _LEET.items() if letter in lowered]
            if members & {" ", "\t"}:
                return f"[{''.join(parts)}{_GLUE}]+"
        return f"[{''.join(parts)}]"


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


def widen(pattern: re.Pattern[str], *, exact: bool = False, leet: bool = False) -> str:
    """RE2 source matching (at least) every string in which `pattern` finds a match."""
    if pattern.flags & (re.ASCII | re.LOCALE):
        raise Untranslatable("ASCII/LOCALE flags")
    tree = sre_parse.parse(pattern.pattern, pattern.flags)
    flags = tree.state.flags
    ignorecase = bool(flags & re.IGNORECASE)
    body, _cut = _Widener(exact, leet, ignorecase).seq(tree, bool(flags & re.DOTALL), at_start=True)
    return ("(?i)" if ignorecase else "") + body


_SELECTIVE = re.compile(r"[A-Za-z0-9]{4}")


def pieces(pattern: re.Pattern[str], *, leet: bool = False) -> list[list[str]]:
    """The pattern as alternatives of required pieces (RE2 sources): a match of `pattern` contains,
    for one of its top-level alternatives, a match of each piece of it.

    The first piece of an alternative is its prefix (what `widen` gives); later pieces, split at
    gaps, are kept only when they hold a word of four or more letters: "post … data … to http://"
    then needs "to http" as well, not only "post", while pieces like `\\s+` or "to" (which match
    everywhere and only slow the DFA down) are left out."""
    if pattern.flags & (re.ASCII | re.LOCALE):
        raise Untranslatable("ASCII/LOCALE flags")
    tree = sre_parse.parse(pattern.pattern, pattern.flags)
    flags = tree.state.flags
    ignorecase = bool(flags & re.IGNORECASE)
    dotall = bool(flags & re.DOTALL)
    prefix = "(?i)" if ignorecase else ""
    items = _items(tree)
    alternatives = items[0][1][1] if len(items) == 1 and items[0][0] is sre_c.BRANCH else [tree]
    out: list[list[str]] = []
    for alt in alternatives:
        found: list[str] = []
        for mode_leet in (leet, False):  # the plain spelling judges selectivity
            widener = _Widener(False, mode_leet, ignorecase)
            pieces_: list[str] = []
            current: list[str] = []
            for op, av in _items(alt):
                if widener.is_gap(op, av):
                    if "".join(current) or pieces_:
                        pieces_.append("".join(current))
                        current = []
                    continue
                piece, cut = widener.seq([(op, av)], dotall, at_start=not "".join(current))
                current.append(piece)
                if cut:
                    pieces_.append("".join(current))
                    current = []
            pieces_.append("".join(current))
            found = found or pieces_
            plain = pieces_
        kept = [found[0]] + [
            p
            for p, q in zip(found[1:], plain[1:], strict=True)
            if _SELECTIVE.search(re.sub(r"\\x\{[0-9a-f]+\}", " ", q))
        ]
        out.append([prefix + p for p in kept if p])
    return out
