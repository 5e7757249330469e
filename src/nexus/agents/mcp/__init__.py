"""MCP both ways: tools from MCP servers (client.py) and Nexus as an MCP server (server.py)."""
