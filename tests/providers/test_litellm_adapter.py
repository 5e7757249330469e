from __future__ import annotations

import importlib.util

import httpx
import pytest

from nexus.providers import registry
from nexus.providers.base import ProviderContext
from nexus.providers.errors import ModelUnavailable

from .conftest import make_entry


@pytest.mark.skipif(importlib.util.find_spec("litellm") is not None, reason="litellm is installed here")
async def test_factory_without_litellm_says_how_to_install() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ModelUnavailable, match=r"pip install 'nexus\[litellm\]'") as info:
            registry.build(make_entry("litellm", "http://127.0.0.1:9"), ProviderContext(http, lambda _: None))
    assert info.value.provider == "litellm" and not info.value.retryable
