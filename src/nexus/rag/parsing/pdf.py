"""PDF → page-tagged paragraphs (pypdf). PDFs carry no reliable headings; pages are the structure."""

from __future__ import annotations

import io
import logging

from nexus.rag.errors import CorruptFile, EmptyDocument, TooManyPages
from nexus.rag.parsing.document import Block, ParsedDocument, blocks_from_paragraphs
from nexus.rag.parsing.limits import Limits


def parse_pdf(data: bytes, limits: Limits) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    # pypdf logs every recoverable oddity as a warning; the outcome (text or a typed error) is what counts.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorruptFile("the PDF is encrypted with a password")
        count = len(reader.pages)
        if count > limits.max_pages:
            raise TooManyPages(f"the PDF has {count} pages; the limit is {limits.max_pages}")
        blocks: list[Block] = []
        chars = 0
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            chars += len(text)
            if chars > limits.max_chars:
                raise CorruptFile(f"the PDF holds more than {limits.max_chars} characters of text")
            # Lines inside a page paragraph are layout, not structure: blank lines separate paragraphs.
            blocks.extend(blocks_from_paragraphs(text, page=number))
        meta_title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise CorruptFile(f"the PDF cannot be read: {exc or type(exc).__name__}") from None
    except RecursionError:
        raise CorruptFile("the PDF cannot be read: nested too deeply") from None
    if count == 0:
        raise CorruptFile("the PDF has no pages")
    if not blocks:
        raise EmptyDocument("the PDF has no extractable text (a scanned image? OCR is not supported)")
    title = (meta_title or "").strip() or blocks[0].text.split("\n", 1)[0][:200]
    return ParsedDocument("pdf", title, tuple(blocks), pages=count)
