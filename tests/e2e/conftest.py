"""End-to-end fixtures: a fake upstream with fixed usage per reply, and the database to run on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from nexus.testing import FakeOpenAI, Reply

from .harness import COMPLETION_TOKENS, KEY, KEY_ENV, PROMPT_TOKENS, fresh_postgres_database


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    """Answers every call at once with the same usage, so token and cost totals are exact."""
    fake = FakeOpenAI(default=Reply(text="pong", usage=(PROMPT_TOKENS, COMPLETION_TOKENS)))
    with fake:
        yield fake


@pytest.fixture
def upstream_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None: the embedded SQLite file under data_dir; else a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        yield None
        return
    async with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url
