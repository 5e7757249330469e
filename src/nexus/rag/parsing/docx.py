"""DOCX → headings, paragraphs and tables (python-docx), after checking the zip cannot inflate past the
limits: python-docx would otherwise decompress a bomb in memory."""

from __future__ import annotations

import io
import zipfile

from nexus.rag.errors import ArchiveBomb, CorruptFile, EmptyDocument
from nexus.rag.parsing.document import Block, BlockKind, ParsedDocument, clean
from nexus.rag.parsing.limits import Limits

# A member this small cannot hurt whatever its ratio (XML of a short document compresses ~10x).
_RATIO_FLOOR_BYTES = 1 << 20


def check_archive(data: bytes, limits: Limits) -> None:
    """Refuse a zip whose declared sizes exceed the limits. Declared sizes can lie, so python-docx
    reading more than declared is also caught by zipfile's own CRC/size check (BadZipFile)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptFile(f"the DOCX container cannot be read: {exc}") from None
    if len(infos) > limits.max_archive_members:
        raise ArchiveBomb(f"the DOCX holds {len(infos)} files; the limit is {limits.max_archive_members}")
    total = sum(info.file_size for info in infos)
    if total > limits.max_uncompressed_bytes:
        raise ArchiveBomb(
            f"the DOCX would inflate to {total} bytes; the limit is {limits.max_uncompressed_bytes}"
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            raise ArchiveBomb(
                f"the DOCX member {info.filename!r} compresses {ratio:.0f}:1 "
                f"(limit {limits.max_compression_ratio:.0f}:1): refused as a zip bomb"
            )


def _heading_level(style_name: str) -> int:
    name = style_name.lower()
    if name == "title":
        return 1
    if name.startswith("heading"):
        digits = "".join(ch for ch in name if ch.isdigit())
        return min(int(digits), 6) if digits else 1
    return 0


def parse_docx(data: bytes, limits: Limits) -> ParsedDocument:
    check_archive(data, limits)
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block] = []
        title = (document.core_properties.title or "").strip()
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                text = clean(item.text)
                if not text:
                    continue
                style = item.style.name if item.style is not None else ""
                level = _heading_level(style or "")
                if style and style.lower() == "title" and not title:
                    title = text
                if level:
                    blocks.append(Block(text, "heading", level))
                else:
                    kind: BlockKind = "list" if "list" in (style or "").lower() else "paragraph"
                    blocks.append(Block(text, kind))
            elif isinstance(item, Table):
                rows = [" | ".join(clean(cell.text) for cell in row.cells) for row in item.rows]
                text = "\n".join(r for r in rows if r.strip(" |"))
                if text:
                    blocks.append(Block(text, "table"))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, AttributeError) as exc:
        raise CorruptFile(f"the DOCX cannot be read: {exc or type(exc).__name__}") from None
    except Exception as exc:  # lxml raises its own XMLSyntaxError family on broken XML parts
        if type(exc).__module__.startswith("lxml"):
            raise CorruptFile(f"the DOCX holds broken XML: {exc}") from None
        raise
    if not blocks:
        raise EmptyDocument("the DOCX has no text")
    return ParsedDocument("docx", title or blocks[0].text[:200], tuple(blocks))
