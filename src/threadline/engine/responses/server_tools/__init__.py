"""Server-side tools: the interface (`base.py`), one module a kind (`mcp.py`,
`web_search.py`), the registry of kinds, and a turn's plan (`plan.py`)."""
