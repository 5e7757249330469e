"""The engine's typed inputs and outputs: who is calling, what to call, what came back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Safe to repeat: retried on any retryable failure. The others only with an idempotency key.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class ExecContext:
    """Who asks: the tenant (allow-list, idempotency scope, audit) and ids for the audit trail."""

    tenant: str
    actor: str = ""
    request_id: str = ""
    run_id: str = ""


class ExternalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: Method = "GET"
    url: str = Field(min_length=1, max_length=4096)
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    content: str | None = None
    # Per attempt; None = the engine's default.
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    max_retries: int | None = Field(default=None, ge=0, le=10)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    follow_redirects: bool = True

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL")
        return v

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def fingerprint(self) -> str:
        """What makes two requests "the same" for an idempotency key (headers excluded: tokens rotate)."""
        body = orjson.dumps(
            [self.method, self.url, sorted(self.params.items()), self.json_body, self.content],
            option=orjson.OPT_SORT_KEYS,
            default=str,
        )
        return hashlib.sha256(body).hexdigest()


class ExternalResponse(BaseModel):
    status: int
    headers: dict[str, str] = Field(default_factory=dict)
    text: str = ""
    url: str
    attempts: int = 1
    elapsed_ms: float = 0.0
    # True when an idempotency key returned the recorded result without calling again.
    replayed: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json_body(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.text)
