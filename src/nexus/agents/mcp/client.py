"""Tools from MCP servers (the `mcp` package): stdio subprocesses and streamable HTTP endpoints.

Each server gets one long-lived session owned by a background task: anyio scopes must be exited by the
task that entered them, so a session opened inside one tool call could not be closed from another.
Calls from any task go through the shared session; a broken session is reopened on the next call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable
from typing import Any

import orjson
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from nexus.agents.tools.base import FunctionTool, ToolContext, ToolFailed, ToolSpec
from nexus.config.agents import McpServerEntry
from nexus.execution.egress import EgressPolicy, Resolver
from nexus.execution.egress_mcp import guarded_mcp_http_client

log = logging.getLogger("nexus.agents.mcp")

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")
CONNECT_TIMEOUT_S = 30.0


class McpUnavailable(RuntimeError):
    """The MCP server could not be started or reached."""


def tool_name(server: str, tool: str) -> str:
    return _UNSAFE.sub("_", f"{server}__{tool}")[:64]


def result_text(result: Any) -> str:
    """An MCP CallToolResult as text for the model: text parts joined, structured content as JSON."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource":
            parts.append(getattr(block.resource, "text", None) or f"[resource {block.resource.uri}]")
        else:
            parts.append(f"[{kind} content]")
    if not parts and result.structured_content is not None:
        return orjson.dumps(result.structured_content).decode()
    return "\n".join(parts)


class McpConnection:
    def __init__(
        self,
        entry: McpServerEntry,
        *,
        policy: EgressPolicy | None = None,
        resolver: Resolver | None = None,
        secret: Callable[[str], str | None] = os.environ.get,
        errlog: Any = None,
    ) -> None:
        self.entry = entry
        self.policy = policy or EgressPolicy()
        self.resolver = resolver
        self.secret = secret
        self.errlog = errlog
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    def _transport(self, errlog: Any) -> Any:
        e = self.entry
        if e.command is not None:
            env = {**_base_env(), **e.env}
            params = StdioServerParameters(command=e.command[0], args=e.command[1:], env=env)
            return stdio_client(params, errlog=self.errlog or errlog)
        headers = {name: self.secret(var) or "" for name, var in e.headers_env.items()}
        assert e.url is not None
        http = guarded_mcp_http_client(self.policy, resolver=self.resolver, headers=headers)
        return _with_client(http, streamable_http_client(e.url, http_client=http))

    async def _own(self, ready: asyncio.Future[Client]) -> None:
        try:
            with open(os.devnull, "w") as sink:  # a stdio server's stderr, unless errlog is given
                async with Client(self._transport(sink), read_timeout_seconds=300.0) as client:
                    ready.set_result(client)
                    await self._stop.wait()
        except BaseException as exc:  # surfaced to the caller waiting on `ready`
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else McpUnavailable(str(exc)))
            elif not isinstance(exc, asyncio.CancelledError):
                log.warning("MCP server %s disconnected: %s", self.entry.name, exc)
        finally:
            self._client = None

    async def client(self) -> Client:
        async with self._lock:
            if self._client is not None and self._task is not None and not self._task.done():
                return self._client
            self._stop = asyncio.Event()
            ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._own(ready), name=f"mcp-{self.entry.name}")
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    self._client = await ready
            except Exception as exc:
                await self._halt()
                raise McpUnavailable(
                    f"MCP server {self.entry.name!r} is unavailable: {_reason(exc)}"
                ) from None
            return self._client

    async def tools(self) -> list[FunctionTool]:
        client = await self.client()
        listed = await client.list_tools()
        wanted = set(self.entry.tools) if self.entry.tools is not None else None
        out = []
        for t in listed.tools:
            if wanted is not None and t.name not in wanted:
                continue
            spec = ToolSpec(
                name=tool_name(self.entry.name, t.name),
                description=(t.description or t.name)[:1000],
                parameters=dict(t.input_schema or {"type": "object", "properties": {}}),
                requires_approval=self.entry.require_approval,
                source=f"mcp:{self.entry.name}",
            )
            out.append(FunctionTool(spec, self._caller(t.name)))
        return out

    def _caller(self, remote: str) -> Any:
        async def call(args: dict[str, Any], ctx: ToolContext) -> str:
            client = await self.client()
            try:
                result = await client.call_tool(remote, args)
            except Exception as exc:  # the session broke: the next call reconnects
                await self._halt()
                raise ToolFailed(f"MCP server {self.entry.name!r} failed: {_reason(exc)}") from None
            text = result_text(result)
            if result.is_error:
                raise ToolFailed(text or "the MCP tool reported an error")
            return text

        return call

    async def _halt(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait({task}, timeout=10)
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._client = None

    async def aclose(self) -> None:
        async with self._lock:
            await self._halt()


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)
    if inner:  # anyio wraps failures in exception groups
        return _reason(inner[0])
    return f"{type(exc).__name__}: {exc}"[:300]


def _base_env() -> dict[str, str]:
    # A stdio server gets a minimal environment, not the gateway's secrets.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


@contextlib.asynccontextmanager
async def _with_client(http: Any, transport: Any) -> Any:
    async with http, transport as streams:
        yield streams
