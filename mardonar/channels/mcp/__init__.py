"""The MCP front end: `mardonar serve mcp` serves the embedded SQLite memory to MCP clients
(`server`), with the tools `memory/graphmcp.py` calls, so it is a GraphMCP stand-in.
docs/graphmcp.md is the user's guide.
"""
