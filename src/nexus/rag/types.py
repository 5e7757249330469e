"""What the use-case API returns: plain frozen dataclasses, independent of the ORM and of any door."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

FileStatus = Literal["in_progress", "completed", "failed"]


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    id: str
    name: str
    created_at: datetime
    files: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileInfo:
    id: str
    collection_id: str
    filename: str
    bytes: int
    status: FileStatus
    progress: float
    chunks: int
    created_at: datetime
    kind: str | None = None
    title: str = ""
    pages: int | None = None
    error_code: str | None = None
    error: str | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    collection_id: str
    file_id: str
    filename: str
    chunk_id: str
    title: str
    section: str
    text: str
    score: float
    start: int
    end: int
    page: int | None = None
    page_end: int | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    hits: list[SearchHit]
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Grounding:
    """The retrieval step of grounded nexus-auto: passages, or why there are none (never raises)."""

    ok: bool
    passages: list[SearchHit]
    reason: str | None = None
    elapsed_ms: float = 0.0
