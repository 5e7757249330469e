"""Markdown → headings, paragraphs, lists, code and tables (markdown-it-py, CommonMark)."""

from __future__ import annotations

from nexus.rag.errors import EmptyDocument
from nexus.rag.parsing.document import Block, BlockKind, ParsedDocument, clean

_CONTAINERS: dict[str, BlockKind] = {
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "table_open": "table",
}


def parse_markdown(text: str) -> ParsedDocument:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[Block] = []
    heading_level = 0
    depth: list[BlockKind] = []
    row: list[str] = []
    for token in tokens:
        if token.type in _CONTAINERS:
            depth.append(_CONTAINERS[token.type])
        elif token.type in ("bullet_list_close", "ordered_list_close", "table_close"):
            depth.pop()
        elif token.type == "heading_open":
            heading_level = int(token.tag[1])
        elif token.type == "heading_close":
            heading_level = 0
        elif token.type in ("fence", "code_block"):
            if token.content.strip():
                blocks.append(Block(token.content.rstrip("\n"), "code"))
        elif token.type == "tr_close":
            if any(row):
                blocks.append(Block(" | ".join(row), "table"))
            row = []
        elif token.type == "inline":
            content = clean(token.content)
            if not content:
                continue
            if depth and depth[-1] == "table":
                row.append(content)
            elif heading_level:
                blocks.append(Block(content, "heading", heading_level))
            else:
                blocks.append(Block(content, depth[-1] if depth else "paragraph"))
    if not blocks:
        raise EmptyDocument("the Markdown document has no text")
    title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return ParsedDocument("markdown", title or blocks[0].text[:200], tuple(blocks))
