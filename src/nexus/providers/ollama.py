"""The `ollama` adapter: Ollama through its OpenAI-compatible endpoint (no key needed)."""

from __future__ import annotations

from nexus.config.catalogue import ModelEntry
from nexus.providers import registry
from nexus.providers.base import ProviderContext
from nexus.providers.openai_compat import OpenAICompatProvider


class OllamaProvider(OpenAICompatProvider):
    default_base_url = "http://localhost:11434/v1"
    key_required = False


def create(entry: ModelEntry, ctx: ProviderContext) -> OllamaProvider:
    return OllamaProvider(entry, ctx)


registry.register("ollama", create)
