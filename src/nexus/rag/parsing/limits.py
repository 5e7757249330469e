"""Limits a document must respect before (and while) it is parsed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 50 * 1024 * 1024
    max_pages: int = 2000
    # DOCX is a zip: refuse before parsing when members would inflate past this, or compress too well.
    max_uncompressed_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: float = 200.0
    max_archive_members: int = 10_000
    # Extracted text beyond this is refused (a 50 MB text file is ~10M words: not a document to chat with).
    max_chars: int = 20_000_000
