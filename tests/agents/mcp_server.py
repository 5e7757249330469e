"""A real MCP server for the tests, built with the `mcp` package: `python mcp_server.py` speaks stdio,
`python mcp_server.py http PORT` speaks streamable HTTP on 127.0.0.1:PORT/mcp."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("notes")
NOTES: list[str] = []


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def remember(note: str) -> str:
    """Keep a note; returns every note so far."""
    NOTES.append(note)
    return "; ".join(NOTES)


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text (refuses 'boom')."""
    if text == "boom":
        raise ToolError("refusing to shout boom")
    return text.upper()


@server.tool()
def whoami(ctx: Context) -> str:
    """The Authorization header this call came with."""
    return (ctx.headers or {}).get("authorization", "(none)")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        import uvicorn

        uvicorn.run(
            server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning"
        )
    else:
        server.run("stdio")
