"""RAG errors as types. A bad document is an `IngestError` with a stable `code` and a reason a person can
read; the doors map these to 4xx (or to a failed ingestion record) in one place."""

from __future__ import annotations


class RagError(Exception):
    """Base of every retrieval-augmented-generation failure."""

    code = "rag_error"


class IngestError(RagError):
    """A document that cannot be ingested; `str(exc)` is the reason shown to the user."""

    code = "invalid_document"


class UnsupportedType(IngestError):
    code = "unsupported_type"


class FileTooLarge(IngestError):
    code = "file_too_large"


class TooManyPages(IngestError):
    code = "too_many_pages"


class ArchiveBomb(IngestError):
    """A compressed container (DOCX) whose members inflate past the limits: refused before parsing."""

    code = "archive_too_large"


class CorruptFile(IngestError):
    code = "corrupt_file"


class EmptyDocument(IngestError):
    code = "empty_document"


class DuplicateName(RagError):
    code = "duplicate_name"


class DuplicateContent(RagError):
    """The same bytes are already in the collection under another file id (content-hash dedup)."""

    code = "duplicate_content"


class IndexMismatch(RagError):
    """A collection was built with another embedder (dimension or name): vectors would not compare."""

    code = "index_mismatch"
