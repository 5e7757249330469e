"""The Provider seam: one bound model behind one small async protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

import httpx

from nexus.config.catalogue import ModelEntry
from nexus.providers.types import ChatChunk, ChatRequest, ChatResponse, Health, Usage


@runtime_checkable
class Provider(Protocol):
    """A catalogue entry bound to its wire protocol.

    `complete` and `stream` take our OpenAI-shaped request (its `model` field is ignored: the
    bound entry's upstream name is used) and return our OpenAI-shaped response or chunks. The last
    streamed chunk carries usage when the upstream reports it.
    """

    entry: ModelEntry

    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...

    async def health_check(self) -> Health: ...

    def estimate_cost(self, usage: Usage) -> float: ...


class ProviderContext:
    """What an adapter factory gets: the shared HTTP client and credential lookup."""

    def __init__(self, http: httpx.AsyncClient, secret: Callable[[str | None], str | None]) -> None:
        self.http = http
        self.secret = secret


ProviderFactory = Callable[[ModelEntry, ProviderContext], Provider]


class CostMixin:
    entry: ModelEntry

    def estimate_cost(self, usage: Usage) -> float:
        return self.entry.cost(usage.prompt_tokens, usage.completion_tokens)
