"""Server-side tools (remote MCP, web search) and outbound fetching; the port is `base.py`."""
