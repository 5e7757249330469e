"""Agent definitions: the `agents:` section of the catalogue, and the body of an agent created through
the API. Typed and validated here (the config layer) so the catalogue can check them on load."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexus.jsontypes import JsonBool, JsonFloat, JsonInt

AUTO_MODEL = "nexus-auto"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# What OpenAI-style function names allow; MCP and OpenAPI tool names are prefixed into this shape.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemoryPolicy(_Strict):
    """`session`: earlier turns of the session are remembered (the checkpoint keeps them across
    restarts); `none`: every run starts fresh. Only the last `max_turns` turns are sent to the model."""

    mode: Literal["session", "none"] = "session"
    max_turns: JsonInt = Field(default=20, ge=1, le=1000)


class AgentLimits(_Strict):
    max_steps: JsonInt = Field(default=8, ge=1, le=100, description="model calls per run")
    timeout_s: JsonFloat = Field(default=300.0, gt=0, le=3600, description="active time per run")
    max_cost_usd: JsonFloat | None = Field(default=None, ge=0)
    tool_timeout_s: JsonFloat = Field(default=30.0, gt=0, le=600)
    max_parallel_tools: JsonInt = Field(default=4, ge=1, le=32)


class McpServerEntry(_Strict):
    """Tools from an MCP server: `command` (stdio subprocess) or `url` (streamable HTTP)."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,24}$")
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "oneOf": [
                {"required": ["command"], "properties": {"command": {"type": "array"}}},
                {"required": ["url"], "properties": {"url": {"type": "string"}}},
            ]
        },
    )
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = Field(default=None, pattern=r"^https?://")
    # Header name → the environment variable holding its value (secrets stay out of the file).
    headers_env: dict[str, str] = Field(default_factory=dict)
    # Only these tools of the server (all when None).
    tools: list[str] | None = None
    require_approval: JsonBool = False

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerEntry:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs exactly one of `command` (stdio) or `url` (HTTP)")
        if self.command is not None and not self.command:
            raise ValueError("`command` must not be empty")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("`url` must be an http(s) URL")
        return self


class OpenApiEntry(_Strict):
    """Tools from an OpenAPI 3 document: one tool per operation, called through the execution engine."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,24}$")
    # An http(s) URL, or a file path (catalogue agents only).
    spec: str = Field(min_length=1)
    base_url: str | None = None
    operations: list[str] | None = None
    headers_env: dict[str, str] = Field(default_factory=dict)
    require_approval: JsonBool = False


class AgentEntry(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    instructions: str = "You are a helpful assistant. Use the tools when they help; answer concisely."
    model: str = Field(default=AUTO_MODEL, min_length=1)
    temperature: JsonFloat | None = Field(default=None, ge=0, le=2)
    # Registered tools by name (built-ins: calculator, http_request, run_python, retrieval).
    tools: list[str] = Field(default_factory=list)
    # Per-tool options, e.g. {"retrieval": {"collection": "handbook"}}.
    tool_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Tools (of any source) that wait for a human approval before they run.
    require_approval: list[str] = Field(default_factory=list)
    mcp: list[McpServerEntry] = Field(default_factory=list)
    openapi: list[OpenApiEntry] = Field(default_factory=list)
    memory: MemoryPolicy = Field(default_factory=MemoryPolicy)
    limits: AgentLimits = Field(default_factory=AgentLimits)

    @model_validator(mode="after")
    def _unique_sources(self) -> AgentEntry:
        names = [m.name for m in self.mcp] + [o.name for o in self.openapi]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tool source names must be unique: {', '.join(dupes)}")
        return self


class HttpMcpServerEntry(McpServerEntry):
    """An MCP server a tenant may declare over the API: streamable HTTP only (stdio is the catalogue's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=None)
    command: None = None  # type: ignore[assignment]
    url: str = Field(pattern=r"^https?://")  # type: ignore[assignment]


class HttpOpenApiEntry(OpenApiEntry):
    """An OpenAPI tool source a tenant may declare over the API: an http(s) document (files are the catalogue's)."""

    spec: str = Field(pattern=r"^https?://")


class TenantAgentEntry(AgentEntry):
    """What `POST /api/agents` takes: an agent whose tool sources are reachable over HTTP only."""

    mcp: list[HttpMcpServerEntry] = Field(default_factory=list)  # type: ignore[assignment]
    openapi: list[HttpOpenApiEntry] = Field(default_factory=list)  # type: ignore[assignment]
