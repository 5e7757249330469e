"""HTML → title, headings and paragraphs (lxml). Scripts, styles and navigation chrome are dropped."""

from __future__ import annotations

from typing import Any

from nexus.rag.errors import CorruptFile, EmptyDocument
from nexus.rag.parsing.document import Block, BlockKind, ParsedDocument, clean

_DROP = ("script", "style", "noscript", "template", "nav", "footer", "header", "aside", "form", "svg", "head")
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_LEAF_BLOCKS: dict[str, BlockKind] = {
    "p": "paragraph",
    "li": "list",
    "pre": "code",
    "blockquote": "paragraph",
    "dd": "paragraph",
    "dt": "paragraph",
    "figcaption": "paragraph",
    "caption": "paragraph",
    "tr": "table",
}


def _walk(element: Any, out: list[tuple[Block, bool]]) -> None:
    """Appends (block, loose): loose = text directly inside a container or after an inline tag."""
    tag = element.tag if isinstance(element.tag, str) else ""
    tag = tag.lower()
    if tag in _HEADINGS:
        text = clean(element.text_content())
        if text:
            out.append((Block(text, "heading", _HEADINGS[tag]), False))
    elif tag in _LEAF_BLOCKS:
        if tag == "tr":
            text = " | ".join(clean(cell.text_content()) for cell in element if isinstance(cell.tag, str))
        else:
            text = clean(element.text_content())
        if text.strip(" |"):
            out.append((Block(text, _LEAF_BLOCKS[tag]), False))
    else:
        # A container: its own loose text is a paragraph; its children are walked in order.
        if element.text and clean(element.text):
            out.append((Block(clean(element.text), "paragraph"), True))
        for child in element:
            _walk(child, out)
    if element.tail and clean(element.tail) and element.getparent() is not None:
        out.append((Block(clean(element.tail), "paragraph"), True))


def parse_html(text: str) -> ParsedDocument:
    import lxml.html
    from lxml.etree import ParserError, XMLSyntaxError

    try:
        root = lxml.html.document_fromstring(text)
    except (ParserError, XMLSyntaxError, ValueError) as exc:
        raise CorruptFile(f"the HTML cannot be parsed: {exc}") from None
    title_el = root.find(".//title")
    title = clean(title_el.text_content()) if title_el is not None else ""
    for bad in root.xpath("|".join(f"//{t}" for t in _DROP)):
        bad.drop_tree()
    body = root.find("body")
    found: list[tuple[Block, bool]] = []
    _walk(body if body is not None else root, found)
    # Loose runs split by inline tags ("loose <span>x</span> text") arrive as neighbours: join them.
    merged: list[Block] = []
    previous_loose = False
    for block, loose in found:
        if merged and loose and previous_loose:
            merged[-1] = Block(merged[-1].text + " " + block.text, "paragraph")
        else:
            merged.append(block)
        previous_loose = loose
    if not merged:
        raise EmptyDocument("the HTML page has no text")
    if not title:
        title = next((b.text for b in merged if b.kind == "heading"), merged[0].text[:200])
    return ParsedDocument("html", title, tuple(merged))
