"""Adapter registry: provider name → factory. Adding a provider is one new module that registers."""

from __future__ import annotations

import importlib

from nexus.config.catalogue import ModelEntry
from nexus.providers.base import Provider, ProviderContext, ProviderFactory

_FACTORIES: dict[str, ProviderFactory] = {}

# Built-in adapters, imported lazily on first use so an optional SDK is only needed when used.
_BUILTIN = {
    "openai": "nexus.providers.openai_compat",
    "ollama": "nexus.providers.ollama",
    "anthropic": "nexus.providers.anthropic",
    "gemini": "nexus.providers.gemini",
    "litellm": "nexus.providers.litellm_adapter",
    "demo": "nexus.providers.demo",
}


def register(name: str, factory: ProviderFactory) -> None:
    _FACTORIES[name] = factory


def adapter_names() -> list[str]:
    return sorted(set(_FACTORIES) | set(_BUILTIN))


def get_factory(name: str) -> ProviderFactory:
    if name not in _FACTORIES and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(adapter_names())}") from None


def build(entry: ModelEntry, ctx: ProviderContext) -> Provider:
    return get_factory(entry.provider)(entry, ctx)
