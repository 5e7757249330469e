"""The tool seam: a typed spec and an async call. Built-ins, OpenAPI operations and MCP tools all
register the same way, and every call comes back as a ToolResult (errors included: the model sees
them and can recover)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field

from nexus.config.agents import TOOL_NAME_PATTERN

# What a model sees of one result; a longer one is cut (and says so).
MAX_RESULT_CHARS = 16_000
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class ToolSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str = ""
    # JSON Schema of the arguments object.
    parameters: dict[str, Any] = Field(default_factory=lambda: dict(EMPTY_PARAMETERS))
    requires_approval: bool = False
    timeout_s: float | None = Field(default=None, gt=0)
    # Where it comes from: "builtin", "mcp:<server>", "openapi:<name>", "custom".
    source: str = "custom"

    def openai(self) -> dict[str, Any]:
        """The OpenAI `tools` entry for this spec."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class ToolCall(BaseModel):
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    # Set when the model's arguments were not a JSON object (the call then fails with a clear message).
    invalid_arguments: str | None = None

    @classmethod
    def from_openai(cls, raw: Mapping[str, Any], index: int = 0) -> ToolCall:
        fn = raw.get("function") or {}
        text = fn.get("arguments")
        args: Any = {}
        invalid: str | None = None
        if isinstance(text, dict):
            args = text
        elif text:
            try:
                args = orjson.loads(text)
            except orjson.JSONDecodeError:
                args, invalid = {}, str(text)[:2000]
        if not isinstance(args, dict):
            args, invalid = {}, str(text)[:2000]
        return cls(
            id=str(raw.get("id") or f"call_{index}"),
            name=str(fn.get("name") or ""),
            arguments=args,
            invalid_arguments=invalid,
        )

    def openai(self) -> dict[str, Any]:
        args = (
            self.invalid_arguments
            if self.invalid_arguments is not None
            else orjson.dumps(self.arguments).decode()
        )
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": args}}


class ToolResult(BaseModel):
    call_id: str
    name: str
    content: str
    is_error: bool = False
    elapsed_ms: float = 0.0

    def message(self) -> dict[str, Any]:
        """The `tool` message the model reads next."""
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.content}


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who a tool works for: the tenant scopes its data and external calls."""

    tenant: str
    agent: str
    run_id: str
    session_id: str
    request_id: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


class ToolFailed(Exception):
    """A tool's own failure, worded for the model (which reads it and may try differently)."""


@runtime_checkable
class Tool(Protocol):
    spec: ToolSpec

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        """The result: text, or anything JSON-able (rendered as JSON for the model)."""
        ...


ToolFn = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]


@dataclass(slots=True)
class FunctionTool:
    """A tool from a spec and an async function."""

    spec: ToolSpec
    fn: ToolFn

    async def __call__(self, args: dict[str, Any], ctx: ToolContext) -> Any:
        return await self.fn(args, ctx)


def render(output: Any) -> str:
    text = output if isinstance(output, str) else orjson.dumps(output, default=str).decode()
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"\n…[cut: {len(text) - MAX_RESULT_CHARS} more characters]"
    return text


@lru_cache(maxsize=512)
def _validator(schema_json: bytes) -> Draft202012Validator | None:
    schema = orjson.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None  # a foreign tool with a broken schema: let its server judge the arguments
    return Draft202012Validator(schema)


def argument_errors(spec: ToolSpec, args: dict[str, Any]) -> list[str]:
    validator = _validator(orjson.dumps(spec.parameters, option=orjson.OPT_SORT_KEYS))
    if validator is None:
        return []
    out = []
    for err in sorted(validator.iter_errors(args), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in err.path) or "(arguments)"
        out.append(f"{where}: {err.message}")
    return out[:5]


async def invoke(tool: Tool, call: ToolCall, ctx: ToolContext, timeout_s: float) -> ToolResult:
    """Run one call: arguments checked against the schema, time-boxed, every failure a result."""
    started = time.perf_counter()

    def result(content: str, error: bool) -> ToolResult:
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return ToolResult(
            call_id=call.id, name=call.name, content=content, is_error=error, elapsed_ms=elapsed
        )

    if call.invalid_arguments is not None:
        return result(f"error: the arguments are not a JSON object: {call.invalid_arguments[:200]}", True)
    problems = argument_errors(tool.spec, call.arguments)
    if problems:
        return result("error: invalid arguments: " + "; ".join(problems), True)
    try:
        async with asyncio.timeout(tool.spec.timeout_s or timeout_s):
            output = await tool(call.arguments, ctx)
    except TimeoutError:
        return result(f"error: {call.name} did not finish within {tool.spec.timeout_s or timeout_s:g}s", True)
    except ToolFailed as exc:
        return result(f"error: {exc}", True)
    except Exception as exc:  # a tool's bug is the model's observation, not the run's end
        return result(f"error: {type(exc).__name__}: {exc}"[:2000], True)
    return result(render(output), False)


class ToolRegistry:
    """Tools by name. The runtime's registry holds the built-ins and anything the lead registers."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.register(t)

    def register(self, tool: Tool) -> None:
        if tool.spec.name in self._tools:
            raise ValueError(f"a tool named {tool.spec.name!r} is already registered")
        self._tools[tool.spec.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [self._tools[n].spec for n in self.names()]
