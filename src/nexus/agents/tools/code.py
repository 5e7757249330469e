"""The code tool: Python in the QA sandbox (a throwaway subprocess: rlimits, no network, temp dir)."""

from __future__ import annotations

import asyncio
from typing import Any

from nexus.agents.tools.base import FunctionTool, ToolContext, ToolSpec
from nexus.guard.qa.sandbox import run_python

SPEC = ToolSpec(
    name="run_python",
    description=(
        "Run a short Python 3 program in an isolated sandbox (no network, no files kept, a few seconds "
        "of CPU) and return its exit code, stdout and stderr. Print what you want to see."
    ),
    parameters={
        "type": "object",
        "properties": {"code": {"type": "string", "description": "a complete Python program"}},
        "required": ["code"],
        "additionalProperties": False,
    },
    source="builtin",
)


def run_python_tool(*, timeout_s: float = 5.0, memory_mb: int = 256) -> FunctionTool:
    async def call(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        # The sandbox blocks on its subprocess; a thread keeps the event loop (and parallel tools) free.
        result = await asyncio.to_thread(run_python, args["code"], timeout_s, memory_mb)
        return {
            "exit_code": result.exit_code,
            "stdout": result.stdout[-8000:],
            "stderr": result.stderr[-4000:],
            "timed_out": result.timed_out,
        }

    return FunctionTool(SPEC.model_copy(update={"timeout_s": timeout_s + 10}), call)
