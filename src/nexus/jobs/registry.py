"""Handlers by kind: `@job("kind")` on a plain async function `(ctx, payload) -> result | None`.

A registry rather than an if/elif chain: adding a job kind is one decorated function in one module, and a
worker loads extra modules with `nexus worker --import my.module`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from nexus.config.settings import Settings
from nexus.jobs.errors import InvalidPayload, UnknownJobKind

if TYPE_CHECKING:
    from nexus.jobs.context import JobContext, Outbox
    from nexus.store.models_jobs import Job

Handler = Callable[["JobContext[Any]", Any], Awaitable[Any]]
# Runs in the transaction that makes a job dead or cancelled: (outbox, job row, final status, reason).
FinalHook = Callable[["Outbox", "Job", str, str], Awaitable[None]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class JobSpec:
    kind: str
    handler: Handler
    payload_model: type[BaseModel] | None = None
    # None: the settings' default; a callable reads it from the settings (e.g. callback_max_attempts).
    max_attempts: int | Callable[[Settings], int] | None = None
    timeout_s: float | None = None
    retry_base_s: float | None = None
    retry_max_s: float | None = None
    on_final: FinalHook | None = None

    def attempts_for(self, settings: Settings) -> int:
        if callable(self.max_attempts):
            return self.max_attempts(settings)
        return self.max_attempts or settings.jobs_max_attempts

    def dump_payload(self, payload: BaseModel | dict[str, Any] | None) -> dict[str, Any]:
        """The JSON stored in the job row; validated against the kind's model when it has one."""
        if isinstance(payload, BaseModel):
            return payload.model_dump(mode="json")
        data = dict(payload or {})
        if self.payload_model is not None:
            try:
                return self.payload_model.model_validate(data).model_dump(mode="json")
            except ValidationError as exc:
                raise InvalidPayload(f"invalid payload for job kind {self.kind!r}: {exc}") from None
        return data

    def load_payload(self, data: dict[str, Any]) -> Any:
        if self.payload_model is None:
            return data
        return self.payload_model.model_validate(data)


_REGISTRY: dict[str, JobSpec] = {}


def job(
    kind: str,
    *,
    payload: type[BaseModel] | None = None,
    max_attempts: int | Callable[[Settings], int] | None = None,
    timeout_s: float | None = None,
    retry_base_s: float | None = None,
    retry_max_s: float | None = None,
    on_final: FinalHook | None = None,
    replace: bool = False,
) -> Callable[[H], H]:
    """Register the decorated async function as the handler of `kind`."""

    def register(fn: H) -> H:
        if kind in _REGISTRY and not replace and _REGISTRY[kind].handler is not fn:
            raise ValueError(f"job kind {kind!r} is already registered by {_REGISTRY[kind].handler!r}")
        _REGISTRY[kind] = JobSpec(
            kind, fn, payload, max_attempts, timeout_s, retry_base_s, retry_max_s, on_final
        )
        return fn

    return register


def spec_for(kind: str) -> JobSpec:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownJobKind(kind) from None


def kinds() -> list[str]:
    return sorted(_REGISTRY)


def unregister(kind: str) -> None:
    _REGISTRY.pop(kind, None)


def load_modules(modules: Iterable[str]) -> None:
    """Import modules whose `@job`/`schedule` calls register more kinds (`nexus worker --import`)."""
    for name in modules:
        importlib.import_module(name)
