"""What a parser returns: the document's title and its blocks in reading order, with structure kept.

The document's canonical text is the blocks' texts joined by a blank line; chunks and citations carry
character offsets into exactly that text, so a cited span can always be checked against the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["heading", "paragraph", "list", "code", "table"]
DocKind = Literal["pdf", "docx", "html", "markdown", "text"]
SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    kind: BlockKind = "paragraph"
    # Heading level (1 = top); 0 for body blocks.
    level: int = 0
    # 1-based page for paginated formats (PDF); None elsewhere.
    page: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    kind: DocKind
    title: str
    blocks: tuple[Block, ...]
    pages: int | None = None
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return SEPARATOR.join(b.text for b in self.blocks)

    def offsets(self) -> list[int]:
        """Start offset of each block in `text`."""
        out: list[int] = []
        pos = 0
        for block in self.blocks:
            out.append(pos)
            pos += len(block.text) + len(SEPARATOR)
        return out


def clean(text: str) -> str:
    """Collapse runs of spaces inside a block; keep single newlines (lists, addresses, code)."""
    lines = (" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line).strip()


def blocks_from_paragraphs(text: str, page: int | None = None) -> list[Block]:
    """Plain text → paragraph blocks (blank lines separate paragraphs)."""
    out: list[Block] = []
    for part in text.replace("\r\n", "\n").split("\n\n"):
        cleaned = clean(part)
        if cleaned:
            out.append(Block(cleaned, "paragraph", 0, page))
    return out
