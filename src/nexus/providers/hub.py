"""The model hub: the running catalogue bound to providers, with availability and fallback chains.

One hub per process. `reload()` validates a new catalogue completely before swapping it in, so an
invalid file leaves the running catalogue untouched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from nexus.config.catalogue import Catalogue, ModelEntry, load_catalogue
from nexus.config.settings import Settings
from nexus.providers import registry
from nexus.providers.base import Provider, ProviderContext
from nexus.providers.errors import ModelUnavailable, ProviderError
from nexus.providers.metering import Meter, MeteredProvider
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health
from nexus.providers.wrappers import FallbackHook, FallbackProvider, RetryingProvider, RetryPolicy

log = logging.getLogger("nexus.providers")

# Providers that need no credential.
KEYLESS = {"demo", "ollama"}


class UnknownModel(LookupError):
    def __init__(self, model: str, known: list[str]) -> None:
        super().__init__(model)
        self.model = model
        self.known = known


@dataclass(frozen=True, slots=True)
class _State:
    catalogue: Catalogue
    demo: bool
    available: frozenset[str]
    providers: dict[str, Provider]  # id → metered + retrying provider (no fallback)


class ModelHub:
    def __init__(self, settings: Settings, *, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.attempt_timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
        )
        self.meter = Meter()
        self.on_fallback: list[FallbackHook] = []
        self.retry = RetryPolicy(
            max_retries=settings.max_retries,
            base_delay_s=settings.retry_base_delay_s,
            max_delay_s=settings.retry_max_delay_s,
            attempt_timeout_s=settings.attempt_timeout_s,
        )
        self._ctx = ProviderContext(self.http, settings.secret)
        self._state: _State | None = None
        # The catalogue as loaded (before the demo view): what a reload broadcast hands other processes.
        self.source: Catalogue | None = None
        self._reload_listeners: list[Callable[[Catalogue], None]] = []
        self._health: dict[str, Health] = {}
        self._health_at = 0.0
        self._health_lock: asyncio.Lock | None = None

    # -- catalogue -------------------------------------------------------------------------
    def load(self, catalogue: Catalogue | None = None) -> Catalogue:
        """Build providers for a catalogue (the configured file when None) and swap it in."""
        cat = catalogue if catalogue is not None else load_catalogue(self.settings.config)
        self._state = self._build(cat)
        self.source = cat
        for fn in self._reload_listeners:
            fn(self._state.catalogue)
        return self._state.catalogue

    def reload(self, path: Path | str | None = None) -> Catalogue:
        """Re-read the catalogue file; raises CatalogueError and keeps the running one if invalid."""
        return self.load(load_catalogue(path or self.settings.config))

    def on_reload(self, fn: Callable[[Catalogue], None]) -> None:
        self._reload_listeners.append(fn)

    def _has_key(self, entry: ModelEntry) -> bool:
        return entry.provider in KEYLESS or bool(self.settings.secret(entry.api_key_env))

    def _build(self, cat: Catalogue) -> _State:
        demo = self.settings.demo or not any(self._has_key(m) and m.provider != "demo" for m in cat.models)
        if demo:
            cat = cat.demo_view()
        available = frozenset(m.id for m in cat.models if self._has_key(m))
        providers: dict[str, Provider] = {}
        for m in cat.models:
            # Validates adapter names before the swap; an unknown provider rejects the catalogue.
            factory = registry.get_factory(m.provider)
            inner = factory(m, self._ctx)
            providers[m.id] = MeteredProvider(RetryingProvider(inner, self.retry), self.meter)
        if demo:
            log.warning(
                "No provider keys found (or demo forced): serving SIMULATED demo models only",
                extra={"models": len(cat.models)},
            )
        return _State(cat, demo, available, providers)

    @property
    def state(self) -> _State:
        if self._state is None:
            self.load()
        assert self._state is not None
        return self._state

    @property
    def catalogue(self) -> Catalogue:
        return self.state.catalogue

    @property
    def demo(self) -> bool:
        return self.state.demo

    def is_available(self, model_id: str) -> bool:
        return model_id in self.state.available

    def available_ids(self) -> set[str]:
        return set(self.state.available)

    def entry(self, model_id: str) -> ModelEntry:
        e = self.state.catalogue.get(model_id)
        if e is None:
            raise self.unknown(model_id)
        return e

    def unknown(self, model_id: str) -> UnknownModel:
        """The 404 for a model this caller cannot use; it never names tenant models (fine-tunes)."""
        return UnknownModel(model_id, [m.id for m in self.state.catalogue.models if m.owner is None])

    # -- calls -----------------------------------------------------------------------------
    def chain(self, model_id: str) -> list[str]:
        """The model then its fallbacks, available ones only, without repeats.

        The catalogue's explicit fallbacks come first; then models auto-added from the providers
        whose keys are present, preferring ones that share a tag, cheapest first.
        """
        st = self.state
        first = self.entry(model_id)
        ordered = [first.id, *first.fallbacks]
        if not st.demo:
            same_tags = sorted(
                # Only entries of the same kind: a chat model never falls back to an audio-only one.
                (m for m in st.catalogue.models if set(m.tags) & set(first.tags) and m.chat == first.chat),
                key=lambda m: m.blended_price,
            )
            ordered += [m.id for m in same_tags]
        seen: set[str] = set()
        out = []
        for mid in ordered:
            if mid not in seen and mid in st.available:
                seen.add(mid)
                out.append(mid)
        return out

    def provider(self, model_id: str, *, fallback: bool = True) -> Provider:
        """A provider for a model: with its fallback chain, or alone."""
        st = self.state
        self.entry(model_id)
        # An unavailable model is an error, not a silent substitution; fallbacks cover failures.
        ids = (self.chain(model_id) if fallback else [model_id]) if model_id in st.available else []
        if not ids:
            entry = self.entry(model_id)
            raise ModelUnavailable(
                f"model {model_id!r} is unavailable: set {entry.api_key_env or 'its credentials'} "
                "or choose another model",
                provider=entry.provider,
                model=model_id,
                status=503,
            )
        # A call is bounded by the request's deadline when one is in force, else by total_timeout_s.
        return FallbackProvider(
            [st.providers[i] for i in ids],
            on_fallback=self._fallback,
            total_timeout_s=self.settings.total_timeout_s,
        )

    def _fallback(self, from_model: str, to_model: str, error: ProviderError) -> None:
        for fn in self.on_fallback:
            fn(from_model, to_model, error)

    async def complete(self, model_id: str, request: ChatRequest, *, fallback: bool = True) -> ChatResponse:
        return await self.provider(model_id, fallback=fallback).complete(request)

    def stream(
        self, model_id: str, request: ChatRequest, *, fallback: bool = True
    ) -> AsyncIterator[ChatChunk]:
        return self.provider(model_id, fallback=fallback).stream(request)

    async def cached_health(self, max_age_s: float) -> tuple[dict[str, Health], float]:
        """`health()` at most once per `max_age_s`, shared by concurrent callers (no probe storms
        against the upstreams when a dashboard refreshes); returns the result and its age."""
        if self._health_lock is None:
            self._health_lock = asyncio.Lock()
        async with self._health_lock:
            if not self._health or time.monotonic() - self._health_at > max_age_s:
                self._health = await self.health()
                self._health_at = time.monotonic()
            return self._health, time.monotonic() - self._health_at

    async def health(self) -> dict[str, Health]:
        st = self.state
        out: dict[str, Health] = {}
        for mid, p in st.providers.items():
            if mid not in st.available:
                out[mid] = Health(ok=False, detail="unavailable: no credentials")
                continue
            try:
                out[mid] = await p.health_check()
            except Exception as exc:  # a health probe reports, never raises
                out[mid] = Health(ok=False, detail=type(exc).__name__)
        return out

    async def aclose(self) -> None:
        await self.http.aclose()
