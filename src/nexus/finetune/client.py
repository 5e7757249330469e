"""The provider side: OpenAI's Files and fine-tuning endpoints over the hub's HTTP client.

Two error types, mapped in one place (`_check`): `ProviderUnavailable` (5xx, 408, 429, a timeout or a
broken connection: worth retrying) and `ProviderRejected` (any other 4xx: retrying cannot help)."""

from __future__ import annotations

from typing import Any

import httpx

from nexus.config.catalogue import ModelEntry

RETRYABLE = {408, 409, 425, 429}


class ProviderUnavailable(Exception):
    """A transient failure of the provider."""


class ProviderRejected(Exception):
    """The provider refused the request; its message is the reason."""


def _message(r: httpx.Response) -> str:
    try:
        err = r.json().get("error") or {}
        msg = err.get("message") if isinstance(err, dict) else str(err)
    except ValueError:
        msg = None
    return f"{r.status_code}: {msg or r.text[:300] or r.reason_phrase}"


class FineTuneClient:
    """Files and fine-tuning calls to the provider of one catalogue entry (its base_url and key)."""

    def __init__(self, entry: ModelEntry, api_key: str | None, http: httpx.AsyncClient) -> None:
        if not entry.base_url:
            raise ValueError(f"catalogue entry {entry.id!r} has no base_url")
        self.base = entry.base_url
        self.http = http
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            r = await self.http.request(method, self.base + path, headers=self.headers, timeout=30.0, **kw)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from None
        if r.status_code >= 500 or r.status_code in RETRYABLE:
            raise ProviderUnavailable(_message(r))
        if r.status_code >= 400:
            raise ProviderRejected(_message(r))
        body: dict[str, Any] = r.json()
        return body

    async def upload(self, content: bytes, filename: str) -> str:
        files = {"file": (filename, content, "application/jsonl")}
        body = await self._call("POST", "/files", files=files, data={"purpose": "fine-tune"})
        return str(body["id"])

    async def create_job(self, model: str, training_file: str, suffix: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": model, "training_file": training_file}
        if suffix:
            payload["suffix"] = suffix
        return await self._call("POST", "/fine_tuning/jobs", json=payload)

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/fine_tuning/jobs/{job_id}")

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/fine_tuning/jobs/{job_id}/cancel")
