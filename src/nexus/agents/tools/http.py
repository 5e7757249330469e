"""The HTTP request tool: external calls through the execution engine (allow-lists, SSRF guard,
timeouts, retries, audit), on behalf of the run's tenant."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from nexus.agents.tools.base import FunctionTool, ToolContext, ToolFailed, ToolSpec
from nexus.execution import ExecContext, ExecutionEngine, ExecutionError, ExternalRequest

MAX_BODY_CHARS = 8000
_SHOWN_HEADERS = ("content-type", "location", "retry-after")

SPEC = ToolSpec(
    name="http_request",
    description=(
        "Make an HTTP request to a public URL and return the status and body. Private and internal "
        "addresses are refused."
    ),
    parameters={
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "absolute http(s) URL"},
            "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "query": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
            "json": {"description": "a JSON request body"},
            "body": {"type": "string", "description": "a text request body"},
        },
        "required": ["url"],
        "additionalProperties": False,
    },
    source="builtin",
)


def exec_context(ctx: ToolContext) -> ExecContext:
    return ExecContext(
        tenant=ctx.tenant, actor=f"agent:{ctx.agent}", request_id=ctx.request_id, run_id=ctx.run_id
    )


def response_view(status: int, headers: dict[str, str], text: str, truncated: bool) -> dict[str, Any]:
    shown = {k: v for k, v in headers.items() if k.lower() in _SHOWN_HEADERS}
    cut = truncated or len(text) > MAX_BODY_CHARS
    return {"status": status, "headers": shown, "body": text[:MAX_BODY_CHARS], "truncated": cut}


def http_request_tool(engine: ExecutionEngine) -> FunctionTool:
    async def call(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        try:
            req = ExternalRequest(
                method=args.get("method", "GET"),
                url=args["url"],
                headers=args.get("headers") or {},
                params=args.get("query") or {},
                json=args.get("json"),
                content=args.get("body"),
            )
        except ValidationError as exc:
            raise ToolFailed("; ".join(e["msg"] for e in exc.errors())) from None
        try:
            resp = await engine.request(exec_context(ctx), req)
        except ExecutionError as exc:
            raise ToolFailed(exc.message) from None
        return response_view(resp.status, resp.headers, resp.text, resp.truncated)

    return FunctionTool(SPEC, call)
