"""The use-case API end to end: ingest real documents of every type, search, delete, dedup, tenants."""

from __future__ import annotations

import pytest

from nexus.rag.service import RagService
from nexus.store import NotFound, TenantScope

from .docs import make_docx, make_pdf

ALICE = TenantScope("alice")
BOB = TenantScope("bob")

HANDBOOK = b"""# Lighthouse handbook

## Lamps

The lighthouse lamp uses a Fresnel lens that focuses the beam over twenty nautical miles.
Keepers clean the lens every morning.

## Fog signals

During fog the diaphone horn sounds two blasts every minute.
"""


async def ingest(rag: RagService, scope: TenantScope, collection: str, data: bytes, name: str) -> str:
    info = await rag.add_file(scope, collection, data, name)
    await rag.jobs.drain()  # type: ignore[attr-defined]
    return info.id


async def test_every_format_is_ingested_with_structure_and_found(rag: RagService) -> None:
    c = await rag.create_collection(ALICE, "docs")
    md = await ingest(rag, ALICE, c.id, HANDBOOK, "handbook.md")
    pdf = await ingest(
        rag,
        ALICE,
        c.id,
        make_pdf([["Tide tables"], ["Spring tides follow the full moon."]], "Tides"),
        "tides.pdf",
    )
    docx = await ingest(
        rag, ALICE, c.id, make_docx("Rope guide", [("Knots", ["A bowline makes a fixed loop."])]), "rope.docx"
    )
    html = await ingest(
        rag,
        ALICE,
        c.id,
        b"<html><head><title>Birds</title></head><body><h1>Gulls</h1><p>Herring gulls nest on cliffs.</p></body></html>",
        "birds.html",
    )
    txt = await ingest(rag, ALICE, c.id, b"Compass notes\n\nMagnetic north drifts every year.", "compass.txt")
    files = {f.id: f for f in await rag.list_files(ALICE, c.id)}
    assert {f.status for f in files.values()} == {"completed"}
    assert [files[i].kind for i in (md, pdf, docx, html, txt)] == ["markdown", "pdf", "docx", "html", "text"]
    assert files[pdf].pages == 2 and files[pdf].title == "Tides"

    hits = (await rag.search(ALICE, [c.id], "how often does the fog horn sound", k=3)).hits
    assert hits[0].file_id == md
    assert hits[0].section == "Lighthouse handbook > Fog signals"
    assert "two blasts every minute" in hits[0].text
    spring = (await rag.search(ALICE, [c.id], "spring tides full moon", k=1)).hits[0]
    assert (spring.file_id, spring.page) == (pdf, 2)
    assert (await rag.search(ALICE, [c.id], "bowline loop", k=1)).hits[0].file_id == docx
    assert (await rag.search(ALICE, [c.id], "herring gulls nest", k=1)).hits[0].file_id == html


async def test_offsets_point_at_the_chunk_text(rag: RagService) -> None:
    from nexus.rag.parsing import parse

    c = await rag.create_collection(ALICE, "docs")
    await ingest(rag, ALICE, c.id, HANDBOOK, "handbook.md")
    text = parse(HANDBOOK, "handbook.md").text
    for hit in (await rag.search(ALICE, [c.id], "lens beam keepers fog", k=10)).hits:
        assert text[hit.start : hit.end] == hit.text


async def test_same_bytes_twice_is_one_file_and_reingest_is_idempotent(rag: RagService) -> None:
    c = await rag.create_collection(ALICE, "docs")
    first = await ingest(rag, ALICE, c.id, HANDBOOK, "a.md")
    again = await rag.add_file(ALICE, c.id, HANDBOOK, "b.md")
    assert again.id == first and again.duplicate
    before = await rag.c.lexical.count("alice", c.id)
    # Running the job again (a redelivered job) changes nothing.
    await rag.run_ingest({"tenant": "alice", "collection_id": c.id, "file_id": first})
    assert await rag.c.lexical.count("alice", c.id) == before
    assert await rag.c.vectors.count("alice", c.id) == before
    assert len(await rag.list_files(ALICE, c.id)) == 1


async def test_delete_removes_every_trace_from_both_indexes(rag: RagService) -> None:
    c = await rag.create_collection(ALICE, "docs")
    keep = await ingest(
        rag, ALICE, c.id, b"Compass notes\n\nMagnetic north drifts every year.", "compass.txt"
    )
    gone = await ingest(rag, ALICE, c.id, HANDBOOK, "handbook.md")
    assert (await rag.search(ALICE, [c.id], "fresnel lens", k=5)).hits[0].file_id == gone
    await rag.delete_file(ALICE, c.id, gone)

    lexical = await rag.c.lexical.search("alice", c.id, "fresnel lens diaphone", 50)
    assert all(not h.id.startswith(gone) for h in lexical)
    qvec = await rag.c.retriever.embed_query("fresnel lens")
    assert all(h.file_id != gone for h in await rag.c.vectors.search("alice", c.id, qvec, 50))
    assert await rag.c.lexical.count("alice", c.id, gone) == 0
    assert rag.c.lexical.indexed_sync("alice", c.id) == await rag.c.lexical.count("alice", c.id)  # type: ignore[attr-defined]
    assert all(h.file_id == keep for h in (await rag.search(ALICE, [c.id], "fresnel lens fog", k=10)).hits)
    with pytest.raises(NotFound):
        await rag.get_file(ALICE, c.id, gone)


async def test_tenants_cannot_see_each_other(rag: RagService) -> None:
    a = await rag.create_collection(ALICE, "private")
    secret = await ingest(rag, ALICE, a.id, HANDBOOK, "handbook.md")
    b = await rag.create_collection(BOB, "private")
    await ingest(rag, BOB, b.id, b"Bob notes\n\nNothing about lighthouses here, only gardens.", "bob.txt")

    assert [x.id for x in await rag.list_collections(BOB)] == [b.id]
    for call in (
        rag.get_collection(BOB, a.id),
        rag.list_files(BOB, a.id),
        rag.get_file(BOB, a.id, secret),
        rag.search(BOB, [a.id], "fresnel lens"),
        rag.add_file(BOB, a.id, b"sneaky", "x.txt"),
        rag.delete_file(BOB, a.id, secret),
        rag.delete_collection(BOB, a.id),
    ):
        with pytest.raises(NotFound):
            await call
    # Bob naming Alice's file inside his own collection finds nothing either.
    with pytest.raises(NotFound):
        await rag.get_file(BOB, b.id, secret)
    assert all(h.file_id != secret for h in (await rag.search(BOB, [b.id], "fresnel lens", k=10)).hits)
    # Alice still has everything.
    assert (await rag.search(ALICE, [a.id], "fresnel lens", k=1)).hits[0].file_id == secret


async def test_delete_collection_drops_both_indexes(rag: RagService) -> None:
    c = await rag.create_collection(ALICE, "docs")
    await ingest(rag, ALICE, c.id, HANDBOOK, "handbook.md")
    await rag.delete_collection(ALICE, c.id)
    assert await rag.c.lexical.count("alice", c.id) == 0
    assert await rag.c.vectors.count("alice", c.id) == 0
    with pytest.raises(NotFound):
        await rag.get_collection(ALICE, c.id)


async def test_ground_reports_failure_instead_of_raising(rag: RagService) -> None:
    c = await rag.create_collection(ALICE, "docs")
    await ingest(rag, ALICE, c.id, HANDBOOK, "handbook.md")
    ok = await rag.ground(ALICE, [c.id], "fog horn", budget_s=5)
    assert ok.ok and ok.passages
    missing = await rag.ground(ALICE, ["vs_nope"], "fog horn")
    assert not missing.ok and "not found" in (missing.reason or "")
    slow = await rag.ground(ALICE, [c.id], "fog horn", budget_s=0.0)
    assert not slow.ok and "budget" in (slow.reason or "")
