"""The UI's only way to the gateway: a small synchronous HTTP client.

Streamlit scripts run top to bottom in a thread, so a plain sync httpx client fits. Every failure
becomes one of two typed errors whose message reads well on a page: `GatewayDown` (nothing answers)
and `ApiError` (the gateway answered with an error). Nothing from the server packages is imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_URL_ENV = "NEXUS_API_URL"

# Opened SSE streams, process-wide: lets tests check one stream per chat run.
streams_opened = 0


class ClientError(Exception):
    """Base of the errors a page shows as a readable message."""


class GatewayDown(ClientError):
    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"The Nexus gateway at {base_url} is not reachable ({reason}).")
        self.base_url = base_url


class ApiError(ClientError):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.code = code

    @property
    def needs_key(self) -> bool:
        return self.status == 401


def default_api_url() -> str:
    return os.environ.get(API_URL_ENV, DEFAULT_API_URL).rstrip("/")


def _error_message(resp: httpx.Response) -> tuple[str, str | None]:
    """The gateway's message from the OpenAI error shape, FastAPI's `detail`, or the status text."""
    try:
        body = resp.json()
    except ValueError:
        text = resp.text.strip()
        return (text[:300] or resp.reason_phrase or "request failed"), None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"]), err.get("code")
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail, None
        if isinstance(detail, list) and detail:
            first = detail[0]
            if isinstance(first, dict):
                return str(first.get("msg", first)), None
    return resp.reason_phrase or "request failed", None


@dataclass(frozen=True, slots=True)
class SseEvent:
    type: str
    payload: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        inner = self.payload.get("data")
        return inner if isinstance(inner, dict) else {}


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """SSE frames → events; the `event:` line names the type, `data:` lines carry JSON."""
    etype = ""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                raw = "\n".join(data)
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = {"raw": raw}
                if not isinstance(payload, dict):
                    payload = {"value": payload}
                yield SseEvent(etype or str(payload.get("type", "message")), payload)
            etype, data = "", []
        elif line.startswith(":"):
            continue  # keep-alive comment
        elif line.startswith("event:"):
            etype = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:  # a stream cut without the final blank line still delivers its last event
        yield from parse_sse(iter([f"event: {etype}" if etype else ":", *(f"data: {d}" for d in data), ""]))


class NexusClient:
    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, timeout: float = 10.0
    ) -> None:
        self.base_url = (base_url or default_api_url()).rstrip("/")
        self.api_key = api_key or None
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _client(self, timeout: httpx.Timeout | float | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers=self._headers(),
            timeout=timeout if timeout is not None else self.timeout,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with self._client() as c:
                resp = c.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise GatewayDown(self.base_url, type(exc).__name__) from None
        if resp.status_code >= 400:
            message, code = _error_message(resp)
            raise ApiError(resp.status_code, message, code)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return self.request("GET", path, params=clean)

    # -- streams -------------------------------------------------------------------------------
    def stream(self, path: str, body: dict[str, Any]) -> Iterator[SseEvent]:
        """POST and yield the SSE events of one run; exactly one HTTP stream per call."""
        global streams_opened
        timeout = httpx.Timeout(self.timeout, read=300.0)
        try:
            with self._client(timeout) as c, c.stream("POST", path, json=body) as resp:
                streams_opened += 1
                if resp.status_code >= 400:
                    resp.read()
                    message, code = _error_message(resp)
                    raise ApiError(resp.status_code, message, code)
                yield from parse_sse(resp.iter_lines())
        except httpx.TransportError as exc:
            raise GatewayDown(self.base_url, type(exc).__name__) from None

    def chat(self, message: str, session_id: str | None = None) -> Iterator[SseEvent]:
        body: dict[str, Any] = {"message": message}
        if session_id:
            body["session_id"] = session_id
        return self.stream("/chat", body)

    def resume(self, session_id: str, reply: str) -> Iterator[SseEvent]:
        return self.stream("/resume", {"session_id": session_id, "reply": reply})

    # -- reads ---------------------------------------------------------------------------------
    def health(self) -> Any:
        return self.get("/health")

    def trace(self, session_id: str) -> Any:
        return self.get(f"/trace/{quote(session_id, safe='')}")

    def work_orders(self, **filters: Any) -> Any:
        return self.get("/api/work-orders", **filters)

    def work_order(self, order_id: str) -> Any:
        return self.get(f"/api/work-orders/{quote(str(order_id), safe='')}")

    def metrics(self, period: str) -> Any:
        return self.get("/api/metrics", period=period)

    def models(self) -> Any:
        return self.get("/models")

    def agents(self) -> Any:
        """The pipeline's roles and workers (GET /api/roles)."""
        return self.get("/api/roles")

    def tool_agents(self) -> Any:
        """The tool-calling agents this tenant can run (GET /api/agents)."""
        return self.get("/api/agents")

    def route(self, message: str) -> Any:
        return self.request("POST", "/route", json={"message": message})

    def prototypes(self, model_id: str) -> Any:
        return self.get(f"/models/{quote(model_id, safe='')}/prototypes")

    def add_prototype(self, model_id: str, text: str) -> Any:
        return self.request(
            "POST", f"/admin/models/{quote(model_id, safe='')}/prototypes", json={"text": text}
        )

    def remove_prototype(self, model_id: str, text: str) -> Any:
        return self.request(
            "DELETE", f"/admin/models/{quote(model_id, safe='')}/prototypes", json={"text": text}
        )

    def feedback(self, work_order_id: str, rating: str) -> Any:
        """Rate an answer (thumbs up/down): the tenant's router learns from it after a retrain."""
        return self.request("POST", "/api/feedback", json={"work_order_id": work_order_id, "rating": rating})

    # -- admin console (roles are enforced by the gateway: a member gets 403) -------------------
    def tenants(self) -> Any:
        return self.get("/admin/tenants")

    def create_tenant(self, tenant_id: str, name: str = "", **limits: Any) -> Any:
        body = {"id": tenant_id, "name": name, **{k: v for k, v in limits.items() if v}}
        return self.request("POST", "/admin/tenants", json=body)

    def update_tenant(self, tenant_id: str, **changes: Any) -> Any:
        return self.request("PATCH", f"/admin/tenants/{quote(tenant_id, safe='')}", json=changes)

    def budgets(self, tenant_id: str) -> Any:
        return self.get(f"/admin/tenants/{quote(tenant_id, safe='')}/budgets")

    def set_budget(self, tenant_id: str, **budget: Any) -> Any:
        return self.request("PUT", f"/admin/tenants/{quote(tenant_id, safe='')}/budgets", json=budget)

    def delete_budget(self, tenant_id: str, budget_id: int) -> Any:
        return self.request("DELETE", f"/admin/tenants/{quote(tenant_id, safe='')}/budgets/{int(budget_id)}")

    def keys(self) -> Any:
        return self.get("/admin/keys")

    def create_key(self, **body: Any) -> Any:
        return self.request(
            "POST", "/admin/keys", json={k: v for k, v in body.items() if v not in (None, "")}
        )

    def revoke_key(self, key_id: str) -> Any:
        return self.request("DELETE", f"/admin/keys/{quote(key_id, safe='')}")

    def health_history(self, **filters: Any) -> Any:
        return self.get("/api/health/history", **filters)

    def run_checks(self) -> Any:
        return self.request("POST", "/admin/health/run")

    def health_detailed(self) -> Any:
        return self.get("/api/health/detailed")

    def audit(self, **filters: Any) -> Any:
        return self.get("/api/audit", **filters)

    def audit_csv(self, **filters: Any) -> str:
        clean = {k: v for k, v in filters.items() if v not in (None, "")}
        return str(self.request("GET", "/admin/audit/export", params=clean))
