"""What the documents doors rely on below HTTP: an ingestion left `in_progress` by a stopped process is
resumed at start-up; a vector-store file is addressed by its upload's id in any number of stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus.config.settings import Settings
from nexus.embeddings import HashingEmbedder
from nexus.rag.factory import build_rag_service
from nexus.rag.jobs import Handler, LocalJobs
from nexus.rag.uploads import UploadStore
from nexus.service.documents import file_row_id, upload_id_of
from nexus.store import TenantScope, open_store

ME = TenantScope("me")


class Parked:
    """A job runner whose process stops before it runs anything."""

    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []

    def register(self, kind: str, handler: Handler) -> None:
        pass

    async def enqueue(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> str:
        self.queued.append(payload)
        return idempotency_key


async def test_an_ingestion_left_in_progress_is_resumed_at_start_up(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = await open_store(settings)
    try:
        stopped = build_rag_service(settings, store, HashingEmbedder(dim=256), jobs=Parked())
        c = await stopped.create_collection(ME, "docs")
        f = await stopped.add_file(ME, c.id, b"Gulls nest on the cliffs above the harbour.", "birds.txt")
        assert f.status == "in_progress"
        await stopped.close()

        jobs = LocalJobs()
        restarted = build_rag_service(settings, store, HashingEmbedder(dim=256), jobs=jobs)
        assert await restarted.resume_pending() == 1
        await jobs.drain()
        assert (await restarted.get_file(ME, c.id, f.id)).status == "completed"
        assert (await restarted.search(ME, [c.id], "where do gulls nest", k=1)).hits[0].file_id == f.id
        assert await restarted.resume_pending() == 0
        await restarted.close()
    finally:
        await store.close()


def test_uploads_are_per_tenant_and_ids_map_both_ways(tmp_path: Path) -> None:
    uploads = UploadStore(tmp_path)
    a = uploads.put("alice", b"one", "a.txt", "assistants")
    assert uploads.get("alice", a.id) == a and uploads.content("alice", a.id) == b"one"
    assert uploads.get("bob", a.id) is None and uploads.content("bob", a.id) is None
    assert uploads.list("bob") == [] and not uploads.delete("bob", a.id)
    assert uploads.get("alice", "../" + a.id) is None
    row = file_row_id("vs_" + "ab" * 16, a.id)
    assert len(row) <= 64 and upload_id_of(row) == a.id and upload_id_of(a.id) == a.id
    assert uploads.delete("alice", a.id) and uploads.get("alice", a.id) is None
