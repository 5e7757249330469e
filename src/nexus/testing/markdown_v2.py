"""A MarkdownV2 parser written from the Bot API's "Formatting options" rules, for the fake Bot API.

It accepts what Telegram accepts and refuses the rest with Telegram's error text, so a test that sends
through the fake catches what the real server would refuse:

- outside entities, each of  _ * [ ] ( ) ~ ` > # + - = | { } . !  must be escaped with a preceding '\\';
- any character with a code from 1 to 126 may be escaped anywhere with a preceding '\\';
- inside `code` and ```pre``` entities, '`' and '\\' must be escaped; nothing else is markup there;
- inside the (…) of an inline link, ')' and '\\' must be escaped;
- *bold*, _italic_, __underline__ (greedy, left to right), ~strikethrough~ and ||spoiler|| may nest in
  one another but not contain pre or code; entities nest properly or the text is refused;
- '>' opens a block quotation only at the start of a line.

`parse` returns the text a user sees and its entities (offsets in UTF-16 code units, as Telegram's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_STYLES = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_LANG = re.compile(r"[A-Za-z0-9_+#-]*")


class MarkdownV2Error(ValueError):
    """Telegram's 400: "Bad Request: can't parse entities: …"."""


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


@dataclass
class _Open:
    type: str
    start: int  # offset in the plain text (UTF-16 units)
    at: int  # byte-ish position in the source, for error messages


@dataclass
class _Parser:
    src: str
    i: int = 0
    out: list[str] = field(default_factory=list)
    size: int = 0
    stack: list[_Open] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, what: str) -> MarkdownV2Error:
        return MarkdownV2Error(
            f"can't parse entities: {what} at byte offset {len(self.src[: self.i].encode())}"
        )

    def emit(self, s: str) -> None:
        self.out.append(s)
        self.size += _u16(s)

    def escape(self) -> None:
        if self.i + 1 >= len(self.src):
            raise self.fail("Character '\\' is reserved and must be escaped with the preceding '\\'")
        ch = self.src[self.i + 1]
        if not 1 <= ord(ch) <= 126:
            raise self.fail(f"Character {ch!r} can't be escaped")
        self.emit(ch)
        self.i += 2

    def close(self, kind: str, **extra: Any) -> None:
        top = self.stack.pop()
        length = self.size - top.start
        if length == 0 and kind not in ("pre",):
            raise self.fail(f"Empty {kind} entity")
        self.entities.append({"type": kind, "offset": top.start, "length": length, **extra})

    def toggle(self, marker: str) -> None:
        kind = _STYLES[marker]
        if self.stack and self.stack[-1].type == kind:
            self.close(kind)
        elif any(o.type == kind for o in self.stack):
            raise self.fail(f"Can't find end of {self.stack[-1].type} entity")
        else:
            if any(o.type in ("code", "pre") for o in self.stack):
                raise self.fail(f"Entity {kind} can't be inside code")
            self.stack.append(_Open(kind, self.size, self.i))
        self.i += len(marker)

    def code(self) -> None:
        """At '`' outside code: ```pre``` (with an optional language line) or `code`."""
        if any(o.type in _STYLES.values() or o.type == "text_link" for o in self.stack):
            raise self.fail("Entities code and pre can't be inside other entities")
        pre = self.src.startswith("```", self.i)
        self.i += 3 if pre else 1
        language = ""
        if pre:
            nl = self.src.find("\n", self.i)
            lang = self.src[self.i : nl] if nl != -1 else ""
            if nl != -1 and _LANG.fullmatch(lang):
                language = lang
                self.i = nl + 1
        start = self.size
        closing = "```" if pre else "`"
        while True:
            if self.i >= len(self.src):
                raise self.fail(f"Can't find end of {'pre' if pre else 'code'} entity")
            ch = self.src[self.i]
            if ch == "\\":
                self.escape()
            elif self.src.startswith(closing, self.i):
                self.i += len(closing)
                break
            elif ch == "`":
                raise self.fail("Character '`' is reserved and must be escaped with the preceding '\\'")
            else:
                self.emit(ch)
                self.i += 1
        if pre:
            entity = {"type": "pre", "offset": start, "length": self.size - start}
            if language:
                entity["language"] = language
            self.entities.append(entity)
        else:
            if self.size == start:
                raise self.fail("Empty code entity")
            self.entities.append({"type": "code", "offset": start, "length": self.size - start})

    def link_end(self) -> None:
        """At ']' closing a link's text: '(' url ')' must follow."""
        top = self.stack[-1]
        if not self.src.startswith("(", self.i + 1):
            raise self.fail("Character ']' is reserved and must be escaped with the preceding '\\'")
        self.i += 2
        url: list[str] = []
        while True:
            if self.i >= len(self.src):
                raise self.fail("Can't find end of a URL")
            ch = self.src[self.i]
            if ch == "\\":
                if self.i + 1 >= len(self.src) or self.src[self.i + 1] not in ")\\":
                    url.append(ch)  # only ')' and '\' are escaped inside the URL part
                    self.i += 1
                    continue
                url.append(self.src[self.i + 1])
                self.i += 2
            elif ch == ")":
                self.i += 1
                break
            else:
                url.append(ch)
                self.i += 1
        target = "".join(url)
        kind = top.type
        if kind == "custom_emoji":
            self.close("custom_emoji", custom_emoji_id=target.rpartition("id=")[2])
        else:
            if not target:
                raise self.fail("Empty URL")
            self.close("text_link", url=target)

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        src = self.src
        while self.i < len(src):
            ch = src[self.i]
            top = self.stack[-1].type if self.stack else None
            if ch == "\\":
                self.escape()
            elif ch == "`":
                self.code()
            elif src.startswith("__", self.i):
                self.toggle("__")
            elif src.startswith("||", self.i):
                self.toggle("||")
            elif ch in "*_~":
                self.toggle(ch)
            elif ch == "[":
                if top in ("text_link", "custom_emoji"):
                    raise self.fail("Character '[' is reserved and must be escaped with the preceding '\\'")
                self.stack.append(_Open("text_link", self.size, self.i))
                self.i += 1
            elif ch == "!" and src.startswith("![", self.i):
                self.stack.append(_Open("custom_emoji", self.size, self.i))
                self.i += 2
            elif ch == "]" and top in ("text_link", "custom_emoji"):
                self.link_end()
            elif ch == ">" and (self.i == 0 or src[self.i - 1] == "\n") and not self.stack:
                self.quote()
            elif ch in RESERVED:
                raise self.fail(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
            else:
                self.emit(ch)
                self.i += 1
        if self.stack:
            raise self.fail(f"Can't find end of {self.stack[-1].type} entity")
        return "".join(self.out), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))

    def quote(self) -> None:
        """A '>' line (and the '>' lines right after it) is one blockquote entity."""
        start = self.size
        self.i += 1
        while True:
            end = self.src.find("\n", self.i)
            line_end = len(self.src) if end == -1 else end
            line = _Parser(self.src[self.i : line_end])
            text, ents = line.run()
            for e in ents:
                e["offset"] += self.size
            self.entities.extend(ents)
            self.emit(text)
            self.i = line_end
            if end != -1 and self.src.startswith(">", end + 1):
                self.emit("\n")
                self.i = end + 2
                continue
            break
        self.entities.append({"type": "blockquote", "offset": start, "length": self.size - start})


def parse(text: str) -> tuple[str, list[dict[str, Any]]]:
    """MarkdownV2 → (the text a user sees, its entities); MarkdownV2Error where Telegram would refuse."""
    return _Parser(text).run()


def utf16_len(text: str) -> int:
    return _u16(text)
