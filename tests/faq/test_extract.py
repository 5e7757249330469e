"""FAQ extraction from uploaded documents, as a job with progress: explicit FAQs verbatim (Markdown,
PDF), the rest through the (scripted) model; a failing job leaves no partial pairs; bad uploads are
refused with a clear 4xx before anything is written."""

from __future__ import annotations

import json
from typing import Any

import httpx
from tests.faq.conftest import Env
from tests.finetune.conftest import wait_for
from tests.rag.docs import make_pdf

from nexus.faq.documents import MAX_UPLOAD_BYTES
from nexus.testing import Reply

MARKDOWN = """# Help centre

## Do you ship abroad?

Yes, to 40 countries; see the shipping page.

## Returns

Q: How long do I have to return an item?
A: Thirty days from delivery, free of charge.

Question: Can I pay by invoice?
Answer: Only business customers can.
"""


def upload(c: httpx.Client, name: str, data: bytes, ctype: str) -> httpx.Response:
    return c.post("/api/faqs/extract", files={"file": (name, data, ctype)})


def finished(c: httpx.Client, doc_id: str) -> dict[str, Any]:
    return dict(
        wait_for(
            lambda: c.get(f"/api/faqs/documents/{doc_id}").json(),
            lambda v: v["status"] in ("done", "failed", "cancelled"),
        )
    )


def test_markdown_faqs_are_taken_verbatim(env: Env) -> None:
    with env.client("docs-a") as c:
        r = upload(c, "help.md", MARKDOWN.encode(), "text/markdown")
        assert r.status_code == 202, r.text
        doc = finished(c, r.json()["id"])
    assert doc["status"] == "done", doc
    pairs = {p["question"]: p["answer"] for p in doc["pairs"]}
    assert pairs == {
        "Do you ship abroad?": "Yes, to 40 countries; see the shipping page.",
        "How long do I have to return an item?": "Thirty days from delivery, free of charge.",
        "Can I pay by invoice?": "Only business customers can.",
    }
    assert doc["progress"]["done"] == doc["progress"]["total"]
    assert any(p["source"] == "help.md § Returns" for p in doc["pairs"])


def test_a_pdf_with_prose_goes_through_the_model_chunk_by_chunk(env: Env) -> None:
    pdf = make_pdf(
        [
            ["Q: What are your opening hours?", "A: Nine to five, Monday to Friday."],
            ["Our warranty covers parts and labour for two years after purchase."],
        ]
    )
    scripted = {
        "pairs": [{"question": "How long is the warranty?", "answer": "Two years, parts and labour."}]
    }
    env.writer.push(Reply(text=json.dumps(scripted)))
    with env.client("docs-b") as c:
        r = upload(c, "guide.pdf", pdf, "application/pdf")
        assert r.status_code == 202, r.text
        doc = finished(c, r.json()["id"])
    assert doc["status"] == "done", doc
    got = {(p["question"], p["answer"], p["source"]) for p in doc["pairs"]}
    assert got == {
        ("What are your opening hours?", "Nine to five, Monday to Friday.", "guide.pdf p.1"),
        ("How long is the warranty?", "Two years, parts and labour.", "guide.pdf p.2 (model)"),
    }
    assert doc["progress"] == {"done": 2, "total": 2}
    asked = env.writer.requests[-1].json["messages"][0]["content"]
    assert "Our warranty covers parts and labour" in asked and "opening hours" not in asked


def test_a_failing_extraction_records_why_and_writes_no_pairs(env: Env) -> None:
    text = "About us\n\nWe are a small bakery.\n\nQ: Do you bake on Sundays?\nA: Yes, from eight."
    for _ in range(3):
        env.writer.push(Reply(text="Sorry, I cannot produce JSON."))
    with env.client("docs-c") as c:
        r = upload(c, "about.txt", text.encode(), "text/plain")
        doc = finished(c, r.json()["id"])
        assert doc["status"] == "failed", doc
        assert "not JSON" in doc["error"]
        assert doc["pairs"] == []  # not even the explicit pair: all or nothing
        assert c.get("/api/faqs").json()["data"] == []
        job = c.get(f"/api/jobs/{doc['job_id']}").json()
        assert job["status"] == "dead"


def test_bad_uploads_are_refused_and_nothing_is_written(env: Env) -> None:
    with env.client("docs-d") as c:
        cases = {
            "empty": (upload(c, "a.md", b"", "text/markdown"), 400, "empty_file"),
            "oversized": (
                upload(c, "big.txt", b"x " * (MAX_UPLOAD_BYTES // 2 + 10), "text/plain"),
                413,
                "file_too_large",
            ),
            "wrong type": (
                upload(c, "pic.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "image/png"),
                415,
                "unsupported_type",
            ),
            "corrupt pdf": (
                upload(c, "x.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "application/pdf"),
                400,
                "corrupt_file",
            ),
            "blank text": (upload(c, "blank.txt", b"   \n\n  ", "text/plain"), 400, "empty_document"),
        }
        for what, (r, status, code) in cases.items():
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), (what, r.text)
            assert r.json()["error"]["message"], what
        assert c.get("/api/jobs").json()["data"] == []
        assert c.get("/api/faqs").json()["data"] == []
