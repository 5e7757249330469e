"""A linear-time prefilter: many Python regexes, widened into one RE2 set, scanned in one pass.

Python's `re` costs 10–80 µs per pattern on a 500-character prompt (case-insensitive alternations
cannot use its literal-prefix search) and backtracks; the guard runs ~50 patterns per text. RE2
(google-re2) runs all of them as one DFA in a few µs, in time linear in the text. RE2 lacks
lookarounds and back-references, so each pattern is translated into a *superset* (nexus.guard.widen):
a pattern the set does not report cannot match, and only the reported ones run in `re`, which keeps
the exact semantics and the spans.

Where RE2 is not installed or a pattern cannot be translated, that pattern simply always runs: the
prefilter changes speed, never results (tests compare both paths on the evaluation corpora).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from typing import Any

from nexus.guard.widen import Untranslatable, pieces, widen

log = logging.getLogger(__name__)

try:  # optional at import time so a platform without a wheel still works (slower)
    import re2 as _re2  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - exercised only where google-re2 is missing
    _re2 = None

_MAX_MEM = 64 << 20


class Prefilter:
    """Which of `patterns` may match a text, from one RE2 pass. Indices follow `patterns`.

    `exact` names patterns kept exact rather than cut at gaps (a few small ones: see widen.py);
    `leet` widens the others to also catch what `deobfuscate` would reveal in the text."""

    def __init__(
        self,
        patterns: Sequence[re.Pattern[str]],
        *,
        enabled: bool = True,
        max_mem: int = _MAX_MEM,
        exact: Collection[int] = (),
        leet: bool = False,
    ) -> None:
        self.size = len(patterns)
        self._all = frozenset(range(self.size))
        self._always: set[int] = set()
        self._set: Any = None
        # pattern -> its alternatives -> set ids of the pieces that must all be present
        self._needs: dict[int, list[list[int]]] = {}
        self._sources: dict[int, str] = {}
        self._compiled: dict[int, Any] = {}
        if not enabled or _re2 is None:
            return
        options = _re2.Options()
        options.max_mem = max_mem
        options.log_errors = False  # failures are handled (see the sentinel), not printed
        rset = _re2.Set.SearchSet(options)
        # A sentinel that matches every text: its absence from a result means RE2 gave up (DFA out of
        # memory), which must read as "run everything", never as "nothing matched". `\A`, not "":
        # an empty pattern matches at every position and made the scan 35x slower.
        self._sentinel = rset.Add(r"\A")
        for i, pattern in enumerate(patterns):
            try:
                if i in exact:
                    alternatives = [[widen(pattern, exact=True)]]
                else:
                    alternatives = pieces(pattern, leet=leet)
                needs: list[list[int]] = []
                firsts: list[str] = []
                for required in alternatives:
                    kept = [p for p in required if _re2.compile(p).fullmatch("") is None]
                    if not kept:
                        # Matching the empty string means matching everywhere, and slows the set.
                        raise Untranslatable("an alternative that constrains nothing")
                    needs.append([rset.Add(p) for p in kept])
                    firsts.append(kept[0])
                self._needs[i] = needs
                self._sources[i] = "|".join(f"(?:{f})" for f in firsts)
            except (Untranslatable, _re2.error, re.error) as exc:
                log.debug("prefilter: pattern %d always runs (%s)", i, exc)
                self._always.add(i)
        try:
            rset.Compile()
        except _re2.error as exc:  # out of memory for this set: every pattern runs
            log.warning("prefilter disabled: %s", exc)
            return
        self._set = rset

    @property
    def active(self) -> bool:
        return self._set is not None

    def windows(self, i: int, text: str, reach: int) -> list[tuple[int, int]] | None:
        """Where pattern `i` can match in `text`: every match of it contains a match of its widened
        form, so it lies within `reach` characters of one (for matches shorter than `reach`).
        None when the pattern has no widened form (search everything)."""
        source = self._sources.get(i)
        if source is None or self._set is None:
            return None
        regex = self._compiled.get(i)
        if regex is None:
            regex = self._compiled[i] = _re2.compile(source)
        out: list[tuple[int, int]] = []
        for m in regex.finditer(text):
            lo, hi = max(0, m.start() - reach), min(len(text), m.end() + reach)
            if out and lo <= out[-1][1]:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        return out

    def candidates(self, text: str) -> frozenset[int] | set[int]:
        if self._set is None:
            return self._all
        hits = self._set.Match(text)
        if not hits or self._sentinel not in hits:
            log.debug("prefilter: RE2 gave up on a %d-character text; every pattern runs", len(text))
            return self._all
        seen = set(hits)
        found = {i for i, needs in self._needs.items() if any(all(n in seen for n in alt) for alt in needs)}
        return found | self._always if self._always else found
