# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""The documents doors over real HTTP with the official openai SDK, against a real gateway (auth on,
real store, Tantivy, the embedded vector store, ingestion as a background job): the vector-store flow,
deletion that leaves no trace in either index, two tenants that cannot reach each other, bad input."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue
from tests.rag.docs import make_docx, make_pdf, make_zip_bomb_docx

from nexus.config.settings import Settings
from nexus.service.documents import file_row_id
from nexus.service.keys import create_api_key
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer

MAX_FILE = 128 * 1024  # NEXUS_RAG_MAX_FILE_BYTES for this gateway: the oversized case stays small

HANDBOOK = b"""# Lighthouse handbook

## Lamps

The lighthouse lamp uses a Fresnel lens that focuses the beam over twenty nautical miles.
Keepers clean the lens every morning.

## Fog signals

During fog the diaphone horn sounds two blasts every minute.
"""
ROPES = make_docx("Rope guide", [("Knots", ["A bowline makes a fixed loop at the end of a rope."])])
TIDES = make_pdf([["Tide tables"], ["Spring tides follow the full moon and the new moon."]], "Tides")


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI],
    classifier_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayServer]:
    d = tmp_path_factory.mktemp("docs")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(
        data_dir=d,
        config=write_test_catalogue(d / "catalogue.yaml", fakes),
        auth="on",
        attempt_timeout_s=5,
        total_timeout_s=10,
        max_retries=0,
        rag_max_file_bytes=MAX_FILE,
    )
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as server:
        yield server
    mp.undo()


@pytest.fixture(scope="module")
def keys(gw: GatewayServer) -> dict[str, str]:
    return {
        tenant: gw.call(create_api_key(gw.services.store, tenant=tenant, role="member"))[0]
        for tenant in ("alice", "bob")
    }


def client(gw: GatewayServer, key: str) -> OpenAI:
    return OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0)


def in_indexes(gw: GatewayServer, tenant: str, store_id: str, upload_id: str, query: str) -> dict[str, int]:
    """What the two indexes still hold of a file: its BM25 documents and its vectors (searched directly)."""
    rag = gw.services.documents.rag
    row = file_row_id(store_id, upload_id)

    async def probe() -> dict[str, int]:
        lexical = await rag.c.lexical.search(tenant, store_id, query, 50)
        vector = await rag.c.retriever.embed_query(query)
        vectors = await rag.c.vectors.search(tenant, store_id, vector, 50)
        return {
            "lexical_hits": sum(1 for h in lexical if h.id.startswith(row + "-")),  # chunk ids
            "lexical_docs": await rag.c.lexical.count(tenant, store_id, file_id=row),
            "vector_hits": sum(1 for h in vectors if h.file_id == row),
        }

    result: dict[str, int] = gw.call(probe())
    return result


def test_the_sdk_vector_store_flow_create_upload_poll_search_delete(
    gw: GatewayServer, keys: dict[str, str]
) -> None:
    sdk = client(gw, keys["alice"])
    store = sdk.vector_stores.create(name="handbook")
    assert store.object == "vector_store" and store.id.startswith("vs_")

    handbook = sdk.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("handbook.md", HANDBOOK), poll_interval_ms=50
    )
    assert handbook.status == "completed", handbook.last_error
    upload = sdk.files.create(file=("ropes.docx", ROPES), purpose="assistants")
    ropes = sdk.vector_stores.files.create_and_poll(upload.id, vector_store_id=store.id, poll_interval_ms=50)
    assert (ropes.id, ropes.status, ropes.vector_store_id) == (upload.id, "completed", store.id)
    tides = sdk.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("tides.pdf", TIDES))
    assert tides.status == "completed"

    again = sdk.vector_stores.retrieve(store.id)
    assert again.file_counts.completed == 3 and again.file_counts.total == 3
    # Each ingestion ran as a background job of the tenant's (nexus.jobs), visible in /api/jobs.
    jobs = httpx.get(
        gw.base_url + "/api/jobs",
        params={"kind": "rag.ingest"},
        headers={"Authorization": f"Bearer {keys['alice']}"},
    ).json()["data"]
    assert len(jobs) >= 3 and {j["status"] for j in jobs} == {"done"}, jobs
    assert again.usage_bytes == len(HANDBOOK) + len(ROPES) + len(TIDES)
    assert {f.id for f in sdk.vector_stores.files.list(store.id)} == {handbook.id, ropes.id, tides.id}
    assert store.id in {s.id for s in sdk.vector_stores.list()}
    assert sdk.files.retrieve(handbook.id).filename == "handbook.md"
    assert sdk.files.content(upload.id).read() == ROPES

    found = sdk.vector_stores.search(store.id, query="how often does the fog horn sound", max_num_results=3)
    hits = list(found)
    assert hits[0].file_id == handbook.id and hits[0].filename == "handbook.md"
    assert "diaphone horn" in "".join(c.text for c in hits[0].content)
    knots = list(sdk.vector_stores.search(store.id, query="bowline knot loop"))
    assert knots[0].file_id == ropes.id

    # Deleting the file: gone from search through the API, and from both indexes underneath.
    query = "diaphone horn fog blasts"
    before = in_indexes(gw, "alice", store.id, handbook.id, query)
    assert before["lexical_hits"] and before["lexical_docs"] and before["vector_hits"], before
    assert sdk.files.delete(handbook.id).deleted
    after = in_indexes(gw, "alice", store.id, handbook.id, query)
    assert after == {"lexical_hits": 0, "lexical_docs": 0, "vector_hits": 0}
    assert handbook.id not in {h.file_id for h in sdk.vector_stores.search(store.id, query=query)}
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.files.retrieve(handbook.id, vector_store_id=store.id)
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(handbook.id)

    # Removing a file from the store only: out of search, the upload stays.
    assert sdk.vector_stores.files.delete(ropes.id, vector_store_id=store.id).deleted
    assert in_indexes(gw, "alice", store.id, ropes.id, "bowline knot loop") == {
        "lexical_hits": 0,
        "lexical_docs": 0,
        "vector_hits": 0,
    }
    assert ropes.id not in {h.file_id for h in sdk.vector_stores.search(store.id, query="bowline knot loop")}
    assert sdk.files.retrieve(ropes.id).id == ropes.id
    assert sdk.vector_stores.retrieve(store.id).file_counts.total == 1

    assert sdk.vector_stores.delete(store.id).deleted
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.retrieve(store.id)
    assert in_indexes(gw, "alice", store.id, tides.id, "spring tides full moon")["vector_hits"] == 0


def test_the_same_upload_in_two_stores_and_a_store_created_with_files(
    gw: GatewayServer, keys: dict[str, str]
) -> None:
    sdk = client(gw, keys["alice"])
    upload = sdk.files.create(file=("handbook.md", HANDBOOK), purpose="assistants")
    first = sdk.vector_stores.create(name="one", file_ids=[upload.id])
    second = sdk.vector_stores.create(name="two")
    sdk.vector_stores.files.create_and_poll(upload.id, vector_store_id=second.id, poll_interval_ms=50)
    sdk.vector_stores.files.poll(upload.id, vector_store_id=first.id, poll_interval_ms=50)
    for store in (first, second):
        assert list(sdk.vector_stores.search(store.id, query="fog horn"))[0].file_id == upload.id
    # Attaching twice is the same file; the same bytes under another upload are refused (dedup).
    assert sdk.vector_stores.files.create(vector_store_id=first.id, file_id=upload.id).id == upload.id
    twin = sdk.files.create(file=("copy.md", HANDBOOK), purpose="assistants")
    with pytest.raises(openai.ConflictError):
        sdk.vector_stores.files.create(vector_store_id=first.id, file_id=twin.id)
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.create(name="x", file_ids=["file-000000000000000000000000"])
    sdk.files.delete(upload.id)  # gone from both stores
    for store in (first, second):
        assert sdk.vector_stores.retrieve(store.id).file_counts.total == 0


def test_two_tenants_cannot_reach_each_others_stores_or_files(
    gw: GatewayServer, keys: dict[str, str], fakes: dict[str, FakeOpenAI]
) -> None:
    alice, bob = client(gw, keys["alice"]), client(gw, keys["bob"])
    store = alice.vector_stores.create(name="private")
    secret = alice.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("handbook.md", HANDBOOK), poll_interval_ms=50
    )
    bobs_store = bob.vector_stores.create(name="mine")
    bobs_file = bob.files.create(file=("notes.txt", b"Bob's notes about gardening."), purpose="assistants")

    assert store.id not in {s.id for s in bob.vector_stores.list()}
    assert secret.id not in {f.id for f in bob.files.list()}
    refused: list[tuple[str, Any]] = [
        ("retrieve store", lambda: bob.vector_stores.retrieve(store.id)),
        ("list its files", lambda: bob.vector_stores.files.list(store.id)),
        ("retrieve its file", lambda: bob.vector_stores.files.retrieve(secret.id, vector_store_id=store.id)),
        ("search it", lambda: bob.vector_stores.search(store.id, query="fog horn")),
        ("retrieve the upload", lambda: bob.files.retrieve(secret.id)),
        ("read the upload", lambda: bob.files.content(secret.id)),
        (
            "attach to it",
            lambda: bob.vector_stores.files.create(vector_store_id=store.id, file_id=bobs_file.id),
        ),
        (
            "attach her upload",
            lambda: bob.vector_stores.files.create(vector_store_id=bobs_store.id, file_id=secret.id),
        ),
        ("remove its file", lambda: bob.vector_stores.files.delete(secret.id, vector_store_id=store.id)),
        ("delete the upload", lambda: bob.files.delete(secret.id)),
        ("delete the store", lambda: bob.vector_stores.delete(store.id)),
    ]
    for what, call in refused:
        with pytest.raises(openai.NotFoundError):
            call()
            pytest.fail(f"bob could {what}")
    # Citing through a grounded answer: the same 404, and no model is called.
    for f in fakes.values():
        f.clear()
    r = httpx.post(
        gw.base_url + "/rag-chat",
        json={"question": "How often does the fog horn sound?", "vector_store_ids": [store.id]},
        headers={"Authorization": f"Bearer {keys['bob']}"},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert not any(f.requests for f in fakes.values())

    # Alice's store is whole after all of that.
    assert alice.vector_stores.retrieve(store.id).file_counts.completed == 1
    assert list(alice.vector_stores.search(store.id, query="fog horn"))[0].file_id == secret.id


BAD = [
    ("corrupt.pdf", make_pdf([["A page of text"]])[:200], "corrupt_file"),
    ("bomb.docx", make_zip_bomb_docx(40), "archive_too_large"),
    ("photo.pdf", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "unsupported_type"),
    ("program.txt", b"\x7fELF\x02\x01\x01" + bytes(200), "unsupported_type"),
    ("blank.md", b"   \n\n   ", "empty_document"),
]


def test_bad_files_fail_with_the_reason_and_nothing_else_is_lost(
    gw: GatewayServer, keys: dict[str, str]
) -> None:
    sdk = client(gw, keys["alice"])
    store = sdk.vector_stores.create(name="mixed")
    good = sdk.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("handbook.md", HANDBOOK), poll_interval_ms=50
    )
    assert good.status == "completed"
    for name, data, code in BAD:
        assert len(data) <= MAX_FILE, name
        f = sdk.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=(name, data), poll_interval_ms=50
        )
        assert f.status == "failed", name
        assert f.last_error is not None and f"[{code}]" in f.last_error.message, (name, f.last_error)
        assert f.last_error.code in ("invalid_file", "unsupported_file")
    # A PDF named .txt (a lying extension, but a real PDF) is read as the PDF it is.
    liar = sdk.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("notes.txt", TIDES), poll_interval_ms=50
    )
    assert liar.status == "completed", liar.last_error
    counts = sdk.vector_stores.retrieve(store.id).file_counts
    assert (counts.completed, counts.failed) == (2, len(BAD))
    assert list(sdk.vector_stores.search(store.id, query="fog horn blasts"))[0].file_id == good.id
    assert list(sdk.vector_stores.search(store.id, query="spring tides moon"))[0].file_id == liar.id
    failed = sdk.vector_stores.files.list(store.id, filter="failed")
    assert len(list(failed)) == len(BAD)


def declare_and_read(gw: GatewayServer, path: str, key: str, length: int) -> tuple[int, bytes]:
    """Send only the headers of a `length`-byte upload and read the answer (nothing that big is made)."""
    url = httpx.URL(gw.base_url)
    with socket.create_connection((url.host, url.port or 80), timeout=30) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
        )
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_refused_uploads_are_clear_4xx_in_the_openai_shape(gw: GatewayServer, keys: dict[str, str]) -> None:
    sdk = client(gw, keys["alice"])
    with pytest.raises(openai.BadRequestError) as empty:
        sdk.files.create(file=("empty.txt", b""), purpose="assistants")
    assert empty.value.code == "empty_file"
    with pytest.raises(openai.APIStatusError) as big:
        sdk.files.create(file=("big.txt", b"x" * (MAX_FILE + 1)), purpose="assistants")
    assert big.value.status_code == 413 and big.value.code == "file_too_large"
    with pytest.raises(openai.BadRequestError) as purpose:
        sdk.files.create(file=("a.txt", b"text"), purpose="fine-tune")
    assert purpose.value.code == "invalid_purpose"
    auth = {"Authorization": f"Bearer {keys['alice']}"}
    # An empty purpose field is a wrong purpose, not a missing one (found by schemathesis).
    r = httpx.post(
        gw.base_url + "/v1/files", data={"purpose": ""}, files={"file": ("a.txt", b"text")}, headers=auth
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_purpose", r.text
    # Absent, it defaults to "assistants".
    r = httpx.post(gw.base_url + "/v1/files", files={"file": ("a.txt", b"text")}, headers=auth)
    assert r.status_code == 200 and r.json()["purpose"] == "assistants", r.text
    # Past the server's body limit: refused on the declared length, before it is read.
    status, body = declare_and_read(gw, "/v1/files", keys["alice"], 200 << 20)  # a 200 MB upload
    assert status == 413 and b'"code":"request_too_large"' in body, body
    r = httpx.post(gw.base_url + "/v1/files", data={"purpose": "assistants"}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    store = sdk.vector_stores.create(name="s")
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.files.create(vector_store_id=store.id, file_id="file-ffffffffffffffffffffffff")
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.files.create(vector_store_id=store.id, file_id="../../etc/passwd")
    # Query syntax of the lexical engine is text here, not a query language.
    sdk.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("h.md", HANDBOOK), poll_interval_ms=50
    )
    odd = list(sdk.vector_stores.search(store.id, query='title:"fog AND (horn OR -lamp* ~2 ^3 \\'))
    assert odd and odd[0].filename == "h.md"
    with pytest.raises(openai.BadRequestError):
        sdk.vector_stores.search(store.id, query="   ")
    with pytest.raises(openai.BadRequestError):
        sdk.vector_stores.search(store.id, query="x", max_num_results=500)


def test_file_batches_and_store_updates_through_the_sdk(gw: GatewayServer, keys: dict[str, str]) -> None:
    sdk = client(gw, keys["alice"])
    store = sdk.vector_stores.create(name="batch")
    earlier = sdk.files.create(file=("ropes.docx", ROPES), purpose="assistants")
    batch = sdk.vector_stores.file_batches.upload_and_poll(
        store.id,
        files=[
            ("handbook.md", HANDBOOK),
            ("tides.pdf", TIDES),
            ("photo.pdf", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ],
        file_ids=[earlier.id],
        poll_interval_ms=50,
    )
    assert batch.object == "vector_store.files_batch" and batch.status == "completed"
    assert (batch.file_counts.completed, batch.file_counts.failed, batch.file_counts.total) == (3, 1, 4)
    listed = list(sdk.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id))
    assert earlier.id in {f.id for f in listed} and len(listed) == 4
    failed = list(
        sdk.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id, filter="failed")
    )
    assert len(failed) == 1 and failed[0].last_error is not None
    assert list(sdk.vector_stores.search(store.id, query="bowline loop"))[0].file_id == earlier.id

    renamed = sdk.vector_stores.update(store.id, name="renamed", metadata={"team": "harbour"})
    assert (renamed.name, renamed.metadata) == ("renamed", {"team": "harbour"})
    assert sdk.vector_stores.retrieve(store.id).name == "renamed"

    bob = client(gw, keys["bob"])
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.update(store.id, name="mine now")
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[earlier.id])
    with pytest.raises(openai.BadRequestError) as filters:
        sdk.vector_stores.search(store.id, query="x", filters={"type": "eq", "key": "a", "value": "b"})
    assert filters.value.code == "unsupported_parameter"
