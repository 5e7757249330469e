"""Model answers (common Markdown) as Telegram MarkdownV2 messages of at most 4,096 characters.

Escaping uses python-telegram-bot's own helper (`telegram.helpers.escape_markdown`). What this module
adds is the structure: fenced code blocks become `pre` entities, `inline code`, **bold**, headings and
[links](https://…) become their MarkdownV2 forms, and everything else is escaped text. Answers longer
than one message are split on paragraph, then line, then word boundaries; a code block too long for
one message is closed and reopened (with its language) in the next, so every part is valid on its own
and no part ends inside an escape sequence or an entity.

Lengths are counted in UTF-16 code units of the MarkdownV2 source, which is never shorter than the
text Telegram counts after parsing, so a part that fits here fits there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from telegram.helpers import escape_markdown

LIMIT = 4096
_FENCE = re.compile(r"^\s*```\s*([A-Za-z0-9_+#.-]*)\s*$")
_LANG_SAFE = re.compile(r"[^A-Za-z0-9_+#-]")
_INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|\*\*(?P<bold>[^*\n]+?)\*\*"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>https?://[^\s()]+)\)"
)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def units(s: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(s.encode("utf-16-le")) // 2


def escape_text(s: str) -> str:
    return escape_markdown(s, version=2)


def escape_code(s: str) -> str:
    return escape_markdown(s, version=2, entity_type="pre")


def _escape_url(s: str) -> str:
    return escape_markdown(s, version=2, entity_type="text_link")


@dataclass(frozen=True, slots=True)
class _Seg:
    """One inline piece of a line: plain text, inline code, bold text or a link."""

    kind: str  # text | code | bold | link
    text: str
    url: str = ""

    def render(self) -> str:
        if self.kind == "code":
            return f"`{escape_code(self.text)}`"
        if self.kind == "bold":
            return f"*{escape_text(self.text)}*"
        if self.kind == "link":
            return f"[{escape_text(self.text)}]({_escape_url(self.url)})"
        return escape_text(self.text)

    def overhead(self) -> int:
        return units(self.render()) - _cost(self.text, self._escape)

    def _escape(self, ch: str) -> str:
        return escape_code(ch) if self.kind == "code" else escape_text(ch)

    def split(self, budget: int) -> tuple[_Seg, _Seg | None]:
        """The longest head that renders within `budget` (at a space when one is near), and the rest."""
        room = max(1, budget - self.overhead())
        cut = _cut(self.text, room, self._escape, prefer_space=self.kind != "code")
        head = _Seg(self.kind, self.text[:cut], self.url)
        rest = self.text[cut:]
        return head, (_Seg(self.kind, rest, self.url) if rest else None)


@lru_cache(maxsize=4096)
def _char_cost(escape: Callable[[str], str], ch: str) -> int:
    """Rendered size of one character: escaping works per character, so sizes add up."""
    return units(escape(ch))


def _cost(text: str, escape: Callable[[str], str]) -> int:
    return sum(_char_cost(escape, ch) for ch in text)


def _cut(text: str, room: int, escape: Callable[[str], str], *, prefer_space: bool) -> int:
    """How many characters of `text` render within `room` units (at least one)."""
    used = 0
    cut = 0
    for i, ch in enumerate(text):
        cost = _char_cost(escape, ch)
        if used + cost > room:
            break
        used += cost
        cut = i + 1
    cut = max(cut, 1)
    if prefer_space and cut < len(text):
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space + 1
    return cut


def _segments(line: str) -> list[_Seg]:
    heading = _HEADING.match(line)
    if heading:
        return [_Seg("bold", heading.group(1))] if heading.group(1) else []
    out: list[_Seg] = []
    pos = 0
    for m in _INLINE.finditer(line):
        if m.start() > pos:
            out.append(_Seg("text", line[pos : m.start()]))
        if m.group("code") is not None:
            out.append(_Seg("code", m.group("code")))
        elif m.group("bold") is not None:
            out.append(_Seg("bold", m.group("bold")))
        else:
            out.append(_Seg("link", m.group("label"), m.group("url")))
        pos = m.end()
    if pos < len(line):
        out.append(_Seg("text", line[pos:]))
    return out


def render_line(line: str) -> str:
    return "".join(s.render() for s in _segments(line))


def _line_pieces(line: str, limit: int) -> Iterator[str]:
    """One source line as rendered pieces of at most `limit` units (split between or inside segments)."""
    piece = ""
    queue = _segments(line)
    while queue:
        seg = queue.pop(0)
        rendered = seg.render()
        if units(piece) + units(rendered) <= limit:
            piece += rendered
            continue
        if piece:
            yield piece
            piece = ""
            queue.insert(0, seg)
            continue
        head, rest = seg.split(limit)
        yield head.render()
        if rest is not None:
            queue.insert(0, rest)
    if piece:
        yield piece


@dataclass(slots=True)
class _Block:
    code: bool
    lines: list[str]
    lang: str = ""

    def pieces(self, limit: int) -> Iterator[str]:
        """The block rendered as pieces of at most `limit` units, each valid on its own."""
        if not self.code:
            for line in self.lines:
                yield from _line_pieces(line, limit) if line.strip() else iter(())
            return
        head, tail = f"```{self.lang}\n", "\n```"
        room = limit - units(head) - units(tail)
        body: list[str] = []
        size = 0
        for line in self.lines:
            while True:
                cost = _cost(line, escape_code)
                sep = 1 if body else 0
                if size + sep + cost <= room:
                    body.append(escape_code(line))
                    size += sep + cost
                    break
                if body:  # close this block; the line starts the next one
                    yield head + "\n".join(body) + tail
                    body, size = [], 0
                    continue
                cut = _cut(line, room, escape_code, prefer_space=False)
                yield head + escape_code(line[:cut]) + tail
                line = line[cut:]
                if not line:
                    break
        if body:
            yield head + "\n".join(body) + tail


def _blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    para: list[str] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            if para:
                blocks.append(_Block(False, para))
                para = []
            body: list[str] = []
            i += 1
            while i < len(lines) and not _FENCE.match(lines[i]):
                body.append(lines[i])
                i += 1
            blocks.append(_Block(True, body, _LANG_SAFE.sub("", fence.group(1))[:32]))
            i += 1  # the closing fence (or past the end of an unclosed block)
            continue
        if lines[i].strip():
            para.append(lines[i])
        elif para:
            blocks.append(_Block(False, para))
            para = []
        i += 1
    if para:
        blocks.append(_Block(False, para))
    return blocks


def to_markdown_v2(text: str, limit: int = LIMIT) -> list[str]:
    """`text` (Markdown as models write it) as MarkdownV2 messages, each at most `limit` units."""
    parts: list[str] = []
    current = ""
    for block in _blocks(text):
        for n, piece in enumerate(block.pieces(limit)):
            sep = ("\n\n" if n == 0 else "\n") if current else ""
            if units(current) + units(sep) + units(piece) <= limit:
                current += sep + piece
            else:
                if current:
                    parts.append(current)
                current = piece
    if current:
        parts.append(current)
    return parts or [escape_text("(empty answer)")]
