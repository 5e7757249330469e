"""Parsing: bytes + a file name → `ParsedDocument`, the type found from the content, limits enforced."""

from __future__ import annotations

from nexus.rag.errors import EmptyDocument, FileTooLarge
from nexus.rag.parsing.detect import decode_text, detect
from nexus.rag.parsing.document import Block, DocKind, ParsedDocument, blocks_from_paragraphs
from nexus.rag.parsing.limits import Limits

__all__ = ["Block", "DocKind", "Limits", "ParsedDocument", "parse", "parse_text"]


def parse_text(text: str, title: str = "") -> ParsedDocument:
    blocks = blocks_from_paragraphs(text)
    if not blocks:
        raise EmptyDocument("the document has no text")
    first = blocks[0].text.split("\n", 1)[0]
    return ParsedDocument("text", title or first[:200], tuple(blocks))


def parse(data: bytes, filename: str = "", limits: Limits | None = None) -> ParsedDocument:
    """Parse any supported document; every refusal is an `IngestError` subclass with the reason."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"the file is {len(data)} bytes; the limit is {limits.max_bytes}")
    kind = detect(data, filename)
    if kind == "pdf":
        from nexus.rag.parsing.pdf import parse_pdf

        doc = parse_pdf(data, limits)
    elif kind == "docx":
        from nexus.rag.parsing.docx import parse_docx

        doc = parse_docx(data, limits)
    else:
        text = decode_text(data)
        if len(text) > limits.max_chars:
            raise FileTooLarge(f"the text holds {len(text)} characters; the limit is {limits.max_chars}")
        if kind == "html":
            from nexus.rag.parsing.html import parse_html

            doc = parse_html(text)
        elif kind == "markdown":
            from nexus.rag.parsing.markdown import parse_markdown

            doc = parse_markdown(text)
        else:
            doc = parse_text(text)
    if not doc.text.strip():
        raise EmptyDocument("the document has no text")
    return doc
