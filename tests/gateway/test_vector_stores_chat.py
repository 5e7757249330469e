# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""POST /rag-chat over real HTTP: answers from a vector store with citations verified against the cited
passages, through the ChatService (the model call is metered to a work order); a question the
documents cannot answer says so; refusals are statuses in the OpenAI error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, parse_sse, write_test_catalogue

from nexus.config.settings import Settings
from nexus.rag.citations import NO_ANSWER, NOT_FOUND
from nexus.service.keys import create_api_key
from nexus.store import TenantScope
from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import GatewayServer

HANDBOOK = b"""# Lighthouse handbook

## Lamps

The lighthouse lamp uses a Fresnel lens that focuses the beam over twenty nautical miles.
Keepers clean the lens every morning.

## Fog signals

During fog the diaphone horn sounds two blasts every minute.
"""


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    d = tmp_path_factory.mktemp("ragchat")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(
        data_dir=d,
        config=write_test_catalogue(d / "catalogue.yaml", fakes),
        auth="on",
        attempt_timeout_s=5,
        total_timeout_s=10,
        max_retries=0,
    )
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as server:
        yield server
    mp.undo()


@pytest.fixture(scope="module")
def setup(gw: GatewayServer) -> dict[str, str]:
    key = gw.call(create_api_key(gw.services.store, tenant="harbour", role="member"))[0]
    sdk = OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0)
    store = sdk.vector_stores.create(name="handbook")
    f = sdk.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("handbook.md", HANDBOOK), poll_interval_ms=50
    )
    assert f.status == "completed"
    empty = sdk.vector_stores.create(name="empty")
    return {"key": key, "store": store.id, "file": f.id, "empty": empty.id}


@pytest.fixture(autouse=True)
def _clean(fakes: dict[str, FakeOpenAI]) -> Iterator[None]:
    for f in fakes.values():
        f.clear()
    yield
    for f in fakes.values():
        f.default = Reply()


def ask(gw: GatewayServer, setup: dict[str, str], question: str, **extra: Any) -> httpx.Response:
    body = {"question": question, "vector_store_ids": [setup["store"]], "model": "general", **extra}
    return httpx.post(
        gw.base_url + "/rag-chat", json=body, headers={"Authorization": f"Bearer {setup['key']}"}, timeout=60
    )


def events(r: httpx.Response) -> dict[str, list[dict[str, Any]]]:
    assert r.status_code == 200, r.text
    out: dict[str, list[dict[str, Any]]] = {}
    for e in parse_sse(r.text):
        out.setdefault(e["type"], []).append(e)
    return out


def test_an_answer_cites_passages_that_contain_what_it_claims(
    gw: GatewayServer, setup: dict[str, str], fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].default = Reply(text="During fog the diaphone horn sounds two blasts every minute [1].")
    got = events(ask(gw, setup, "How often does the fog horn sound?"))
    assert list(got) == ["retrieved", "reranked", "compressed", "token", "final"]
    passages = {p["n"]: p for p in got["compressed"][0]["passages"]}
    final = got["final"][0]
    assert final["answerable"] is True and not final["unsupported"]
    assert final["citations"], final
    for c in final["citations"]:
        assert c["file_id"] == setup["file"] and c["filename"] == "handbook.md"
        assert c["quote"] in passages[c["n"]]["text"]  # the cited passage holds the supporting text
        assert c["quote"] in HANDBOOK.decode()  # and so does the document
        assert c["end"] - c["start"] == len(c["quote"])  # offsets into the parsed document's text
        assert "two blasts every minute" in c["quote"]
    # The model was called once, through the service layer: the sources and the question reached it.
    sent = fakes["general"].requests[0].body.decode()
    assert "diaphone horn" in sent and "How often does the fog horn sound?" in sent
    gw.call(gw.services.accounting.flush())
    orders = gw.call(gw.services.store.work_orders(TenantScope("harbour")).list())
    assert any(o.door == "rag_chat" for o in orders), orders


def test_a_claim_the_passages_do_not_support_is_marked(
    gw: GatewayServer, setup: dict[str, str], fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].default = Reply(text="The lighthouse lamp is powered by a small nuclear reactor [1].")
    final = events(ask(gw, setup, "What powers the lighthouse lamp?"))["final"][0]
    assert final["unsupported"] and "nuclear reactor" in final["unsupported"][0]
    assert not final["citations"]


def test_a_question_the_documents_cannot_answer_says_so(
    gw: GatewayServer, setup: dict[str, str], fakes: dict[str, FakeOpenAI]
) -> None:
    fakes["general"].default = Reply(text=NOT_FOUND)
    final = events(ask(gw, setup, "Who won the football world cup in 1998?"))["final"][0]
    assert (final["answerable"], final["answer"], final["citations"]) == (False, NO_ANSWER, [])
    # A store with nothing in it: the model is not even called.
    for f in fakes.values():
        f.clear()
    final = events(ask(gw, setup, "How often does the fog horn sound?", vector_store_ids=[setup["empty"]]))
    assert (final["final"][0]["answerable"], final["final"][0]["answer"]) == (False, NO_ANSWER)
    assert not any(f.requests for f in fakes.values())


def test_nexus_auto_answers_from_the_documents(
    gw: GatewayServer, setup: dict[str, str], fakes: dict[str, FakeOpenAI]
) -> None:
    for f in fakes.values():
        f.default = Reply(text="During fog the diaphone horn sounds two blasts every minute [1].")
    got = events(ask(gw, setup, "How often does the fog horn sound?", model="nexus-auto"))
    final = got["final"][0]
    assert "error" not in got, got.get("error")
    assert final["citations"] and final["citations"][0]["file_id"] == setup["file"], final


def test_refusals_are_statuses_in_the_openai_shape(gw: GatewayServer, setup: dict[str, str]) -> None:
    r = ask(gw, setup, "anything", vector_store_ids=["vs_nope"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = ask(gw, setup, "anything", model="no-such-model")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = ask(gw, setup, "anything", vector_store_ids=[])
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(gw.base_url + "/rag-chat", json={"question": "x", "vector_store_ids": [setup["store"]]})
    assert r.status_code == 401


def test_grounded_nexus_auto_through_the_openai_sdk(
    gw: GatewayServer, setup: dict[str, str], fakes: dict[str, FakeOpenAI]
) -> None:
    for f in fakes.values():
        f.default = Reply(text="During fog the diaphone horn sounds two blasts every minute [1].")
    sdk = OpenAI(base_url=gw.base_url + "/v1", api_key=setup["key"], max_retries=0)
    question = [{"role": "user", "content": "How often does the fog horn sound?"}]
    raw = sdk.chat.completions.with_raw_response.create(
        model="nexus-auto",
        messages=question,
        extra_body={"vector_store_ids": [setup["store"]]},  # type: ignore[arg-type]
    )
    assert raw.headers["x-nexus-grounding"] == "used"
    grounding = (raw.parse().model_extra or {})["nexus"]["grounding"]
    assert grounding["used"] and grounding["answerable"] and not grounding["unsupported"]
    assert grounding["citations"][0]["file_id"] == setup["file"]
    assert "two blasts every minute" in grounding["citations"][0]["quote"]
    sent = "\n".join(r.body.decode() for f in fakes.values() for r in f.requests)
    assert "diaphone horn" in sent  # the sources reached the models

    # The file_search tool form; the tool itself never reaches an upstream.
    for f in fakes.values():
        f.clear()
    tool = {"type": "file_search", "vector_store_ids": [setup["store"]]}
    done = sdk.chat.completions.create(model="nexus-auto", messages=question, tools=[tool])  # type: ignore[list-item]
    assert (done.model_extra or {})["nexus"]["grounding"]["used"]
    sent = "\n".join(r.body.decode() for f in fakes.values() for r in f.requests)
    assert "file_search" not in sent and "diaphone horn" in sent


def test_grounding_that_cannot_be_used_is_skipped_and_said(
    gw: GatewayServer, setup: dict[str, str], fakes: dict[str, FakeOpenAI]
) -> None:
    other = gw.call(create_api_key(gw.services.store, tenant="stranger", role="member"))[0]
    sdk = OpenAI(base_url=gw.base_url + "/v1", api_key=other, max_retries=0)
    question = [{"role": "user", "content": "How often does the fog horn sound?"}]
    for store in (setup["store"], "vs_missing"):  # another tenant's store is exactly a missing one
        for f in fakes.values():
            f.clear()
        raw = sdk.chat.completions.with_raw_response.create(
            model="nexus-auto",
            messages=question,
            extra_body={"nexus": {"collections": [store]}},  # type: ignore[arg-type]
        )
        assert raw.headers["x-nexus-grounding"].startswith("skipped: collection"), raw.headers
        grounding = (raw.parse().model_extra or {})["nexus"]["grounding"]
        assert grounding["used"] is False and "not found" in grounding["reason"]
        assert grounding["citations"] == []
        sent = "\n".join(r.body.decode() for f in fakes.values() for r in f.requests)
        assert "diaphone" not in sent and "could not be used" in sent
    stream = sdk.chat.completions.with_raw_response.create(
        model="nexus-auto", messages=question, stream=True, extra_body={"vector_store_ids": ["vs_missing"]}
    )
    assert stream.headers["x-nexus-grounding"].startswith("skipped")
    assert [c for c in stream.parse()]
