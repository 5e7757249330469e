"""Provider errors are types; the gateway maps them to HTTP in one place."""

from __future__ import annotations


class ProviderError(Exception):
    """An upstream call failed.

    `retryable` says whether the same call may succeed if tried again (5xx, 429, connect errors);
    `status` is the upstream HTTP status where there was one; `retry_after` the seconds the
    upstream asked us to wait.
    """

    retryable: bool = False
    kind: str = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"{self.provider}/{self.model}: " if self.provider else ""
        return f"{where}{self.message}"


class UpstreamHTTPError(ProviderError):
    """The upstream answered with an error status."""

    def __init__(self, message: str, *, status: int, **kw: object) -> None:
        retryable = status == 429 or status >= 500
        super().__init__(message, status=status, retryable=retryable, **kw)  # type: ignore[arg-type]


class UpstreamConnectionError(ProviderError):
    """Could not connect, or the connection broke (reset, mid-stream cut)."""

    retryable = True
    kind = "upstream_connection_error"


class UpstreamTimeout(ProviderError):
    retryable = True
    kind = "upstream_timeout"


class UpstreamProtocolError(ProviderError):
    """The upstream answered, but not in its protocol (garbage JSON, missing fields)."""

    retryable = True
    kind = "upstream_protocol_error"


class ModelUnavailable(ProviderError):
    """The model has no credentials or is disabled; try the next in the fallback chain."""

    kind = "model_unavailable"


class AllProvidersFailed(ProviderError):
    """Every model of a fallback chain failed; carries the last error."""

    def __init__(self, message: str, *, errors: list[ProviderError]) -> None:
        last = errors[-1] if errors else None
        super().__init__(
            message,
            provider=last.provider if last else "",
            model=last.model if last else "",
            status=last.status if last else None,
        )
        self.errors = errors

    @property
    def timed_out(self) -> bool:
        return bool(self.errors) and all(isinstance(e, UpstreamTimeout) for e in self.errors)
