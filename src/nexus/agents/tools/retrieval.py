"""The retrieval tool: search a collection of the tenant's documents.

`Retriever` is the small seam `nexus.rag` fills (the lead wires it); the tool passes the run's tenant
so a search never crosses tenants, and the collection comes from the agent's tool options.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field

from nexus.agents.tools.base import FunctionTool, ToolContext, ToolSpec


class Passage(BaseModel):
    text: str
    source: str = ""
    score: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)


class Retriever(Protocol):
    async def search(self, tenant: str, collection: str, query: str, k: int) -> list[Passage]: ...


SPEC = ToolSpec(
    name="retrieval",
    description="Search the documents for passages relevant to a query; returns the best passages with sources.",
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "what to look for"},
            "k": {"type": "integer", "minimum": 1, "maximum": 10, "description": "how many passages"},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    source="builtin",
)


def retrieval_tool(retriever: Retriever, *, default_collection: str = "default") -> FunctionTool:
    async def call(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        collection = str(ctx.options.get("collection") or default_collection)
        passages = await retriever.search(ctx.tenant, collection, args["query"], int(args.get("k", 4)))
        return {
            "collection": collection,
            "passages": [p.model_dump(exclude_defaults=True) for p in passages],
        }

    return FunctionTool(SPEC, call)
