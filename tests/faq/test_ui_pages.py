"""The FAQ, Smart agent and Compare pages, run by Streamlit's AppTest against the real gateway of
tests/faq (auth on: the page's key is one tenant's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest
from tests.faq.conftest import Env
from tests.faq.test_extract import MARKDOWN, finished, upload

from nexus.service.keys import create_api_key
from nexus.testing import Reply
from nexus.ui.client import API_URL_ENV

PAGES = Path(__file__).resolve().parents[2] / "src" / "nexus" / "ui" / "views"


@pytest.fixture
def key(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    token, _ = env.gw.call(create_api_key(env.gw.services.store, tenant="ui-co", role="member"))
    monkeypatch.setenv(API_URL_ENV, env.gw.base_url)
    monkeypatch.setenv("NEXUS_UI_API_KEY", token)
    yield token


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)


def test_faq_page_shows_the_extracted_pairs(env: Env, key: str) -> None:
    with httpx.Client(base_url=env.gw.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        doc = finished(c, upload(c, "help.md", MARKDOWN.encode(), "text/markdown").json()["id"])
    at = page("faq").run()
    at.text_input(key="faq_doc_id").set_value(doc["id"]).run()
    assert not at.exception
    assert any("**Status:** done" in m.value for m in at.markdown)
    table = at.dataframe[0].value
    assert set(table["question"]) == {
        "Do you ship abroad?",
        "How long do I have to return an item?",
        "Can I pay by invoice?",
    }


def test_smart_agent_chat_fills_the_leads_table(env: Env, key: str) -> None:
    at = page("leads").run()
    at.text_input(key="sa_name").set_value("ui-desk")
    at.text_area(key="sa_faqs").set_value("Do you ship abroad? | Yes, to 40 countries.")
    at.button(key="sa_create").click().run()
    assert not at.exception
    env.writer.push(Reply(text="Yes, we ship to 40 countries."))
    at.chat_input(key="sa_input").set_value(
        "Hi, I'm Ada Byron from Engines Ltd, ada@engines.example. Do you ship abroad?"
    ).run()
    assert not at.exception
    leads = at.dataframe[-1].value
    row = leads.iloc[0]
    assert (row["name"], row["email"], row["company"]) == ("Ada Byron", "ada@engines.example", "Engines Ltd")
    assert any("Citations: faq_" in m.value for m in at.chat_message[1].markdown)


def test_compare_page_shows_both_sides(env: Env, key: str) -> None:
    env.fast.push(Reply(text="fast side"))
    env.slow.push(Reply(text="slow side", delay=3.0))
    at = page("compare").run()
    at.selectbox(key="cmp_a").set_value("fast")
    at.selectbox(key="cmp_b").set_value("slow")
    at.text_area(key="cmp_prompt").set_value("Which plan?")
    at.number_input(key="cmp_timeout").set_value(1.0)
    at.button(key="cmp_go").click().run()
    assert not at.exception
    assert any(m.value == "fast side" for m in at.markdown)
    assert any("Timed out" in w.value for w in at.warning)
