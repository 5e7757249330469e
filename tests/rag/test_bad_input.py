"""Bad documents: each is a typed error up front or a failed ingestion with the reason; the rest of the
collection is untouched."""

from __future__ import annotations

import pytest

from nexus.rag import errors
from nexus.rag.parsing import Limits, parse
from nexus.rag.service import RagService
from nexus.store import TenantScope

from .docs import make_docx, make_pdf, make_zip_bomb_docx

ME = TenantScope("me")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


@pytest.mark.parametrize(
    ("data", "name", "error", "reason"),
    [
        (make_pdf([["A page"]])[:200], "broken.pdf", errors.CorruptFile, "cannot be read"),
        (b"%PDF-1.4\n" + bytes(range(256)) * 4, "garbage.pdf", errors.CorruptFile, "PDF"),
        (make_zip_bomb_docx(40), "bomb.docx", errors.ArchiveBomb, "zip bomb"),
        (b"", "empty.txt", errors.EmptyDocument, "empty"),
        (b"   \n\n  ", "blank.md", errors.EmptyDocument, "empty"),
        (PNG, "report.pdf", errors.UnsupportedType, "PNG image"),
        (b"PK\x03\x04" + bytes(100), "sheet.docx", errors.CorruptFile, "zip"),
        (b"\x7fELF\x02\x01\x01" + bytes(200), "notes.txt", errors.UnsupportedType, "ELF"),
    ],
)
def test_parse_refuses_with_a_typed_reason(
    data: bytes, name: str, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error) as info:
        parse(data, name)
    assert reason in str(info.value)
    assert isinstance(info.value, errors.IngestError)


def test_limits_are_checked_before_parsing() -> None:
    with pytest.raises(errors.FileTooLarge):
        parse(b"x" * 2000, "big.txt", Limits(max_bytes=1000))
    with pytest.raises(errors.TooManyPages):
        parse(make_pdf([["p"]] * 5), "long.pdf", Limits(max_pages=3))
    with pytest.raises(errors.ArchiveBomb, match="inflate"):
        parse(make_docx("T", [("H", ["x" * 5000])]), "a.docx", Limits(max_uncompressed_bytes=2000))


def test_the_content_decides_the_type_not_the_extension() -> None:
    assert parse(make_pdf([["Real PDF text"]]), "notes.txt").kind == "pdf"
    assert parse(make_docx("T", [("H", ["body"])]), "page.html").kind == "docx"
    assert parse(b"<!doctype html><html><body><p>hi there</p></body></html>", "a.pdf").kind == "html"
    assert parse(b"# Title\n\n- one\n- two\n", "readme").kind == "markdown"
    assert parse(b"MZ is the name of our project. It is plain text.", "a.exe").kind == "text"


async def test_bad_files_fail_with_reason_and_nothing_else_is_lost(rag: RagService) -> None:
    c = await rag.create_collection(ME, "docs")
    good = await rag.add_file(
        ME, c.id, b"Harbour rules\n\nShips dock at pier nine after sunset.", "rules.txt"
    )
    await rag.jobs.drain()  # type: ignore[attr-defined]
    bad = {
        "broken.pdf": make_pdf([["A page"]])[:200],
        "bomb.docx": make_zip_bomb_docx(40),
        "picture.pdf": PNG,
        "blank.txt": b"  \n ",
    }
    ids = {name: (await rag.add_file(ME, c.id, data, name)).id for name, data in bad.items()}
    await rag.jobs.drain()  # type: ignore[attr-defined]
    files = {f.id: f for f in await rag.list_files(ME, c.id)}
    expected = {
        "broken.pdf": "corrupt_file",
        "bomb.docx": "archive_too_large",
        "picture.pdf": "unsupported_type",
        "blank.txt": "empty_document",
    }
    for name, code in expected.items():
        f = files[ids[name]]
        assert (f.status, f.error_code) == ("failed", code), name
        assert f.error and len(f.error) > 10
        assert await rag.c.lexical.count("me", c.id, f.id) == 0
    assert files[good.id].status == "completed"
    hits = (await rag.search(ME, [c.id], "where do ships dock", k=5)).hits
    assert [h.file_id for h in hits] == [good.id]


async def test_an_oversized_file_is_refused_before_anything_is_stored(rag: RagService) -> None:
    c = await rag.create_collection(ME, "docs")
    huge = b"a" * (200 * 1024 * 1024)  # 200 MB
    with pytest.raises(errors.FileTooLarge, match="limit"):
        await rag.add_file(ME, c.id, huge, "huge.txt")
    assert await rag.list_files(ME, c.id) == []
