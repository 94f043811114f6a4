"""The knowledge base as an MCP server: the protocol's methods (protocol.py) and the tools (tools.py)."""
