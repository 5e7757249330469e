"""StreamGuard: guards streamed output, releasing text only once it can no longer be part of a finding.

It holds back the last `window` characters, never cuts inside a word (secrets have no spaces), and
holds an unterminated PEM block whole, so a credential split across chunks is seen in one piece and
redacted, or the stream blocked, before any of it reaches the client.
"""

from __future__ import annotations

from nexus.guard.pipeline import GuardPipeline, redact
from nexus.guard.types import Action, GuardBlocked, GuardContext, Verdict

_PEM_BEGIN = "-----BEGIN"
_PEM_END = "-----END"
# A hard cap on how much is held: beyond it text is released even mid-word (after being scanned).
_MAX_HOLD = 16_384


class StreamGuard:
    def __init__(
        self, pipeline: GuardPipeline, context: GuardContext | None = None, window: int | None = None
    ) -> None:
        self.pipeline = pipeline
        self.context = context or GuardContext(direction="output")
        self.window = window if window is not None else pipeline.config.stream_window
        self._pending = ""
        self._tail = ""  # recently released text, scanned again for context (never re-released)
        self.verdicts: list[Verdict] = []
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
        scanned = self._tail + self._pending
        offset = len(self._tail)
        verdict = self.pipeline.check(scanned, self.context)
        if verdict.findings:
            self.verdicts.append(verdict)
        if verdict.action.rank > self.action.rank:
            self.action = verdict.action
        if verdict.blocked:
            self._pending = ""
            raise GuardBlocked(verdict.categories, self.context.direction)
        cut = len(self._pending) if final else self._cut()
        to_redact = [
            f
            for f in verdict.findings
            if self.pipeline.config.action_for(f.category, f.risk) is Action.redact and f.end > offset
        ]
        # Never release part of a span: pull the cut back to the start of any span it crosses.
        for f in to_redact:
            if f.start - offset < cut < f.end - offset:
                cut = max(0, f.start - offset)
        released_raw = self._pending[:cut]
        spans = [
            f.model_copy(update={"start": max(0, f.start - offset), "end": f.end - offset})
            for f in to_redact
            if f.end - offset <= cut
        ]
        released = redact(released_raw, spans) if spans else released_raw
        self._pending = self._pending[cut:]
        self._tail = (self._tail + released_raw)[-self.window :] if self.window else ""
        return released
