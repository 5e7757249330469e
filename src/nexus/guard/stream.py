"""StreamGuard: guards streamed output, releasing text only once it can no longer be part of a finding.

It holds back the last `window` characters, never cuts inside a word (secrets have no spaces), and
holds an unterminated PEM block whole, so a credential split across chunks is seen in one piece and
masked, or the stream blocked, before any of it reaches the client. A marker is inserted only for a
span released whole, so a client never sees half a marker.
"""

from __future__ import annotations

from collections.abc import Collection

from nexus.guard.markers import mask
from nexus.guard.pipeline import GuardPipeline
from nexus.guard.types import Action, Decision, GuardBlocked, GuardContext, Verdict

_PEM_BEGIN = "-----BEGIN"
_PEM_END = "-----END"
# A hard cap on how much is held: beyond it text is released even mid-word (after being scanned).
_MAX_HOLD = 16_384


class StreamGuard:
    def __init__(
        self,
        pipeline: GuardPipeline,
        context: GuardContext | None = None,
        window: int | None = None,
        only: Collection[str] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.context = context or GuardContext(direction="output")
        self.window = window if window is not None else pipeline.config.stream_window
        self.only = only
        self._pending = ""
        self._tail = ""  # recently released text, scanned again for context (never re-released)
        self._released = 0  # raw characters released so far (positions below are absolute)
        self._seen: set[tuple[str, str, int]] = set()
        self.verdicts: list[Verdict] = []
        self.decisions: list[Decision] = []  # each finding once, in the order first seen
        self.action = Action.allow

    def feed(self, chunk: str) -> str:
        """Add a chunk; return the text now safe to send (maybe ""). Raises GuardBlocked."""
        self._pending += chunk
        return self._release(final=False)

    def finish(self) -> str:
        """End of stream: scan and release whatever is still held."""
        return self._release(final=True)

    def _cut(self) -> int:
        text = self._pending
        cut = len(text) - self.window
        if cut <= 0:
            return 0
        pem = text.rfind(_PEM_BEGIN)
        if pem != -1 and text.find(_PEM_END, pem) == -1 and len(text) - pem < _MAX_HOLD:
            cut = min(cut, pem)
        # Step back to whitespace so a token straddling the cut stays held whole.
        while cut > 0 and not text[cut - 1].isspace():
            cut -= 1
        if cut == 0 and len(text) >= _MAX_HOLD:
            cut = len(text) - self.window
        return cut

    def _release(self, final: bool) -> str:
        cut = len(self._pending) if final else self._cut()
        if cut == 0 and not final:
            return ""  # nothing could be released: scanning now would only repeat the next scan
        scanned = self._tail + self._pending
        offset = len(self._tail)
        verdict = self.pipeline.check(scanned, self.context, self.only)
        self._record(verdict, self._released - offset)
        if verdict.blocked:
            self._pending = ""
            raise GuardBlocked(verdict.categories, self.context.direction, self.decisions)
        to_mask = [
            f
            for f in verdict.findings
            if self.pipeline.config.action_for(f.category, f.risk) is Action.mask and f.end > offset
        ]
        # Never release part of a span: pull the cut back to the start of any span it crosses.
        for f in sorted(to_mask, key=lambda f: -f.start):
            if f.start - offset < cut < f.end - offset:
                cut = max(0, f.start - offset)
        released_raw = self._pending[:cut]
        spans = [
            f.model_copy(update={"start": max(0, f.start - offset), "end": f.end - offset})
            for f in to_mask
            if f.end - offset <= cut
        ]
        released = mask(released_raw, spans) if spans else released_raw
        self._pending = self._pending[cut:]
        self._released += cut
        self._tail = (self._tail + released_raw)[-self.window :] if self.window else ""
        return released

    def _record(self, verdict: Verdict, base: int) -> None:
        if not verdict.findings:
            return
        self.verdicts.append(verdict)
        if verdict.action.rank > self.action.rank:
            self.action = verdict.action
        for finding in verdict.findings:
            # The window is rescanned on every release: report each finding once, by its position.
            key = (finding.category, finding.kind, base + finding.start)
            decision = self.pipeline.decide(finding, self.context)
            if decision.action is not Action.allow and key not in self._seen:
                self._seen.add(key)
                self.decisions.append(decision)
