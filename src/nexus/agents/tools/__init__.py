"""Tools: the typed seam (ToolSpec, ToolCall, ToolResult, Tool) and the built-ins."""

from nexus.agents.tools.base import (
    FunctionTool,
    Tool,
    ToolCall,
    ToolContext,
    ToolFailed,
    ToolRegistry,
    ToolResult,
    ToolSpec,
    invoke,
)
from nexus.agents.tools.retrieval import Passage, Retriever

__all__ = [
    "FunctionTool",
    "Passage",
    "Retriever",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolFailed",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "invoke",
]
