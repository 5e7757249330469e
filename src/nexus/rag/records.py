"""The records the indexes hold: one per chunk, addressed by (tenant, collection, chunk id)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    id: str
    file_id: str
    seq: int
    title: str
    section: str
    text: str
    start: int
    end: int
    page: int | None = None
    page_end: int | None = None
    filename: str = ""


def chunk_id(file_id: str, seq: int) -> str:
    return f"{file_id}-{seq:05d}"


def namespace(tenant: str, collection: str) -> str:
    """A backend-safe name for one tenant's collection. The tenant is part of it, so two tenants that
    somehow used the same collection id would still never share an index."""
    import hashlib

    return hashlib.sha256(f"{tenant}\x00{collection}".encode()).hexdigest()[:24]
