"""`get_embedder()`: the process-wide embedder, built lazily once (thread-safe) from settings.

Backend choice is configuration (environment, prefix NEXUS_EMBEDDINGS_):
  BACKEND=local (default: MiniLM via ONNX) | local-torch | openai | hashing
  BASE_URL, API_KEY (or API_KEY_ENV: the name of a variable holding it), MODEL  — for `openai`
  MAX_TOKENS (256: retrieval), ROUTING_MAX_TOKENS (see ROUTING_BUDGET), PRECISION (auto | fp32 | int8),
  THREADS, CACHE_SIZE (4096)

`get_routing_embedder()` is the router's view of the same model: a smaller token budget (head and tail of
long prompts) and its own LRU cache, sharing the loaded weights with `get_embedder()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from nexus.config.settings import Settings, get_settings
from nexus.embeddings import CachedEmbedder, HashingEmbedder, MiniLMEmbedder, OpenAIEmbedder
from nexus.embeddings.base import Embedder
from nexus.embeddings.minilm import Precision

Backend = Literal["local", "local-torch", "openai", "hashing"]


class EmbeddingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEXUS_EMBEDDINGS_", env_file=".env", extra="ignore")

    backend: Backend = "local"
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    model: str = "text-embedding-3-small"
    max_tokens: int = 256
    routing_max_tokens: int = Field(default=0, ge=0)  # 0: ROUTING_BUDGET
    precision: Precision = "auto"
    threads: int | None = None
    cache_size: int = 4096


# Tokens of a prompt that routing embeds (2/3 head, 1/3 tail). Chosen by measurement: leave-one-source-out
# accuracy and decision latency per budget are in docs/routing.md (`nexus eval routing --budget N`).
ROUTING_BUDGET = 64


def _local(settings: Settings, conf: EmbeddingSettings, backend: str) -> Embedder:
    return MiniLMEmbedder(
        max_tokens=conf.max_tokens,
        precision=conf.precision,
        threads=conf.threads,
        backend=backend,
    )


def _openai(settings: Settings, conf: EmbeddingSettings) -> Embedder:
    if not conf.base_url:
        raise ValueError("NEXUS_EMBEDDINGS_BACKEND=openai needs NEXUS_EMBEDDINGS_BASE_URL")
    api_key = conf.api_key or settings.secret(conf.api_key_env)
    return OpenAIEmbedder(base_url=conf.base_url, model=conf.model, api_key=api_key)


_BUILDERS: dict[str, Callable[[Settings, EmbeddingSettings], Embedder]] = {
    "local": lambda s, c: _local(s, c, "onnx"),
    "local-torch": lambda s, c: _local(s, c, "torch"),
    "openai": _openai,
    "hashing": lambda s, c: HashingEmbedder(),
}


def build_embedder(settings: Settings | None = None, conf: EmbeddingSettings | None = None) -> Embedder:
    """A new embedder (with the LRU query cache); prefer `get_embedder()` for the shared one."""
    settings = settings or get_settings()
    conf = conf or EmbeddingSettings()
    return CachedEmbedder(_BUILDERS[conf.backend](settings, conf), max_entries=conf.cache_size)


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def get_embedder(settings: Settings | None = None) -> Embedder:
    """The process-wide embedder. Model weights load on the first `embed` call, not here."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = build_embedder(settings)
    return _shared


def set_embedder(embedder: Embedder | None) -> None:
    """Replace (or with None, reset) the shared embedder: for tests and for apps wiring their own."""
    global _shared, _routing
    with _shared_lock:
        _shared = embedder
        _routing = None


def routing_view(embedder: Embedder, conf: EmbeddingSettings | None = None) -> Embedder:
    """The routing budget over `embedder` when it is a (cached) local MiniLM; any other backend as is."""
    conf = conf or EmbeddingSettings()
    inner = embedder.inner if isinstance(embedder, CachedEmbedder) else embedder
    if not isinstance(inner, MiniLMEmbedder):
        return embedder
    budget = conf.routing_max_tokens or ROUTING_BUDGET
    return CachedEmbedder(inner.budgeted(budget), max_entries=conf.cache_size)


_routing: Embedder | None = None


def get_routing_embedder(settings: Settings | None = None) -> Embedder:
    """The process-wide routing embedder (shares the model with `get_embedder()`)."""
    global _routing
    shared = get_embedder(settings)
    if _routing is None:
        with _shared_lock:
            if _routing is None:
                _routing = routing_view(shared)
    return _routing
