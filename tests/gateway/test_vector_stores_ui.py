# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""The Documents page (Streamlit AppTest) against a real gateway: it lists the stores, uploads with
ingestion status, searches, and shows an answer with the cited passage highlighted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from streamlit.testing.v1 import AppTest
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue

from nexus.config.settings import Settings
from nexus.testing import FakeOpenAI, Reply
from nexus.testing.gateway import GatewayServer

PAGE = Path(__file__).resolve().parents[2] / "src" / "nexus" / "ui" / "views" / "documents.py"
HANDBOOK = b"# Lighthouse handbook\n\n## Fog signals\n\nDuring fog the diaphone horn sounds two blasts every minute.\n"


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    d = tmp_path_factory.mktemp("docs_ui")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(data_dir=d, config=write_test_catalogue(d / "catalogue.yaml", fakes), auth="off")
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as server:
        mp.setenv("NEXUS_API_URL", server.base_url)
        yield server
    mp.undo()


def test_the_documents_page_searches_and_highlights_cited_passages(
    gw: GatewayServer, fakes: dict[str, FakeOpenAI]
) -> None:
    sdk = OpenAI(base_url=gw.base_url + "/v1", api_key="sk-any", max_retries=0)
    store = sdk.vector_stores.create(name="handbook")
    sdk.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("handbook.md", HANDBOOK))
    for f in fakes.values():
        f.default = Reply(text="During fog the diaphone horn sounds two blasts every minute [1].")

    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:2] == ["1", "1"]  # files, ready
    at.text_input(key="doc_query").input("fog horn").run()
    shown = "\n".join(m.value for m in at.markdown)
    assert "**handbook.md**" in shown and "**fog**" in shown and "**horn**" in shown
    at.text_input(key="doc_question").input("How often does the fog horn sound?").run()
    at.button(key="doc_ask").click().run()
    assert not at.exception, at.exception
    shown = "\n".join(m.value for m in at.markdown)
    assert ":orange-background[During fog the diaphone horn sounds two blasts every minute.]" in shown, shown
    for f in fakes.values():
        f.default = Reply()
