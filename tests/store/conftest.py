from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexus.store import Store

from .helpers import BACKENDS, open_test_store


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with open_test_store(request.param, tmp_path, request) as s:
        yield s
