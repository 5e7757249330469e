"""Type detection by content, never by the file name: a PDF called notes.txt is a PDF, a PNG called
report.pdf is refused. The name only separates Markdown from plain text (both are text)."""

from __future__ import annotations

import io
import re
import zipfile

from nexus.rag.errors import CorruptFile, EmptyDocument, UnsupportedType
from nexus.rag.parsing.document import DocKind

# Magic numbers of common formats we refuse, so the reason names what the file really is.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\x1f\x8b", "gzip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!", "RAR archive"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office (OLE) document; save it as .docx"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "Ogg media"),
    (b"RIFF", "RIFF media (WAV/AVI/WebP)"),
    (b"\x00\x00\x00", "binary media"),
)
_HTML = re.compile(rb"^\s*(<!--.*?-->\s*)*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.I | re.S)
_HTML_TAGS = re.compile(rb"<(p|div|h[1-6]|table|ul|ol|article|section)[\s>]", re.I)
_MD_EXT = (".md", ".markdown", ".mdown", ".mkd")
_MD_SIGNS = re.compile(r"^(#{1,6} \S|```|\* \S|- \S|\d+\. \S|> \S)", re.M)


def _zip_kind(data: bytes) -> DocKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptFile(f"looks like a zip container but cannot be read: {exc}") from None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        raise UnsupportedType(
            "content is an Excel workbook (.xlsx); supported: PDF, DOCX, HTML, Markdown, text"
        )
    if "ppt/presentation.xml" in names:
        raise UnsupportedType(
            "content is a PowerPoint deck (.pptx); supported: PDF, DOCX, HTML, Markdown, text"
        )
    raise UnsupportedType("content is a zip archive; supported: PDF, DOCX, HTML, Markdown, text")


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls > max(4, len(head) // 100)


def detect(data: bytes, filename: str = "") -> DocKind:
    if not data or not data.strip():
        raise EmptyDocument("the file is empty")
    head = data[:2048]
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    for magic, what in _MAGIC:
        # Short magics ("MZ", "BZh") also begin ordinary sentences: require binary-looking bytes too.
        if head.startswith(magic) and (len(magic) >= 4 or _looks_binary(head) or not _is_utf8(head)):
            raise UnsupportedType(f"content is {what}; supported: PDF, DOCX, HTML, Markdown, text")
    if _looks_binary(head):
        raise UnsupportedType(
            "content is binary data of an unknown type; supported: PDF, DOCX, HTML, Markdown, text"
        )
    stripped = head.lstrip(b"\xef\xbb\xbf")
    if _HTML.match(stripped) or (stripped.lstrip().startswith(b"<") and _HTML_TAGS.search(head)):
        return "html"
    if filename.lower().endswith(_MD_EXT):
        return "markdown"
    sample = decode_text(head, strict=False)
    return "markdown" if len(_MD_SIGNS.findall(sample)) >= 2 else "text"


def _is_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut at the end of the sample
    return True


def decode_text(data: bytes, strict: bool = True) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252 for legacy files."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if not strict:
            return data.decode("utf-8", errors="replace")
    return data.decode("cp1252", errors="replace")
