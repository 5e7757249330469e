"""An agent's tools for one run: registered tools by name, plus its MCP servers and OpenAPI documents.

MCP sessions and OpenAPI tool lists are opened once and reused. Sources an operator declares in the
catalogue may use stdio commands and local files; sources in a tenant's API-created agent may not
(they would run programs or read files on the gateway), and their MCP sessions are per tenant.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from nexus.agents.errors import InvalidAgent, ToolSetupError
from nexus.agents.mcp.client import McpConnection, McpUnavailable
from nexus.agents.tools.base import Tool, ToolCall, ToolContext, ToolRegistry, ToolResult, invoke
from nexus.agents.tools.openapi import OpenApiError, load_document, tools_from_openapi
from nexus.config.agents import AgentEntry, McpServerEntry, OpenApiEntry
from nexus.execution import EgressPolicy, EgressRefused, ExecContext, ExecutionEngine, Resolver


@dataclass(slots=True)
class Toolset:
    tools: dict[str, Tool]
    approval: frozenset[str] = frozenset()
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def openai(self) -> list[dict[str, Any]]:
        return [t.spec.openai() for t in self.tools.values()]

    def needs_approval(self, name: str) -> bool:
        tool = self.tools.get(name)
        return name in self.approval or (tool is not None and tool.spec.requires_approval)

    async def run(self, call: ToolCall, ctx: ToolContext, timeout_s: float) -> ToolResult:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return ToolResult(
                call_id=call.id,
                name=call.name,
                content=f"error: no tool named {call.name!r} (tools: {known})",
                is_error=True,
            )
        ctx = ToolContext(
            tenant=ctx.tenant,
            agent=ctx.agent,
            run_id=ctx.run_id,
            session_id=ctx.session_id,
            request_id=ctx.request_id,
            options=self.options.get(call.name, {}),
        )
        return await invoke(tool, call, ctx, timeout_s)


def validate_sources(spec: AgentEntry, registry: ToolRegistry, *, trusted: bool) -> None:
    """What a definition may name: known tools; for an untrusted (tenant) agent, no stdio or files."""
    unknown = [t for t in spec.tools if registry.get(t) is None]
    if unknown:
        raise InvalidAgent(f"unknown tools: {', '.join(unknown)} (registered: {', '.join(registry.names())})")
    if trusted:
        return
    for m in spec.mcp:
        if m.command is not None:
            raise InvalidAgent(f"mcp.{m.name}: stdio MCP servers can only be declared in the catalogue")
    for o in spec.openapi:
        if not o.spec.startswith(("http://", "https://")):
            raise InvalidAgent(f"openapi.{o.name}: the document must be an http(s) URL")


class Toolbox:
    def __init__(
        self,
        registry: ToolRegistry,
        *,
        engine: ExecutionEngine | None = None,
        policy: EgressPolicy | None = None,
        resolver: Resolver | None = None,
        secret: Callable[[str], str | None] = os.environ.get,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self.policy = policy or (engine.policy if engine is not None else EgressPolicy())
        self.resolver = resolver
        self.secret = secret
        self._mcp: dict[tuple[str, str], McpConnection] = {}
        self._openapi: dict[tuple[str, str], list[Tool]] = {}
        self._lock = asyncio.Lock()

    async def toolset(self, spec: AgentEntry, *, tenant: str, trusted: bool) -> Toolset:
        validate_sources(spec, self.registry, trusted=trusted)
        tools: dict[str, Tool] = {}
        for name in spec.tools:
            tool = self.registry.get(name)
            assert tool is not None
            tools[name] = tool
        owner = "*" if trusted else tenant
        for m in spec.mcp:
            if m.url is not None and not trusted:
                try:
                    self.policy.check_host(tenant, urlsplit(m.url).hostname or "")
                except EgressRefused as exc:
                    raise ToolSetupError(f"mcp.{m.name}: {exc.message}") from None
            for t in await self._mcp_tools(m, owner):
                tools[t.spec.name] = t
        for o in spec.openapi:
            for t in await self._openapi_tools(o, owner, tenant, trusted):
                tools[t.spec.name] = t
        return Toolset(tools, frozenset(spec.require_approval), spec.tool_options)

    async def _mcp_tools(self, entry: McpServerEntry, owner: str) -> list[Tool]:
        key = (owner, entry.model_dump_json())
        async with self._lock:
            conn = self._mcp.get(key)
            if conn is None:
                conn = McpConnection(entry, policy=self.policy, resolver=self.resolver, secret=self.secret)
                self._mcp[key] = conn
        try:
            return list(await conn.tools())
        except McpUnavailable as exc:
            raise ToolSetupError(str(exc)) from None

    async def _openapi_tools(self, entry: OpenApiEntry, owner: str, tenant: str, trusted: bool) -> list[Tool]:
        if self.engine is None:
            raise ToolSetupError("OpenAPI tools need the execution engine")
        key = (owner, entry.model_dump_json())
        if key not in self._openapi:
            ctx = ExecContext(tenant=tenant, actor="agent-setup")
            try:
                doc = await load_document(entry.spec, self.engine, ctx, allow_files=trusted)
                headers = {name: self.secret(var) or "" for name, var in entry.headers_env.items()}
                tools = tools_from_openapi(
                    doc,
                    prefix=entry.name,
                    engine=self.engine,
                    base_url=entry.base_url,
                    operations=entry.operations,
                    headers=headers,
                    requires_approval=entry.require_approval,
                    spec_url=entry.spec if entry.spec.startswith(("http://", "https://")) else None,
                )
            except OpenApiError as exc:
                raise ToolSetupError(f"openapi.{entry.name}: {exc}") from None
            self._openapi[key] = list(tools)
        return self._openapi[key]

    async def aclose(self) -> None:
        conns = list(self._mcp.values())
        self._mcp.clear()
        await asyncio.gather(*(c.aclose() for c in conns), return_exceptions=True)
