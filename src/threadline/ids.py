"""Object ids in OpenAI's style: a type prefix and random hex (`resp_…`, `msg_…`, `conv_…`)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


RESPONSE = "resp"
MESSAGE = "msg"
FUNCTION_CALL = "fc"
FUNCTION_CALL_OUTPUT = "fco"
CALL = "call"
REASONING = "rs"
CONVERSATION = "conv"
ITEM = "item"
MCP_LIST_TOOLS = "mcpl"
MCP_CALL = "mcp"
MCP_APPROVAL_REQUEST = "mcpr"
MCP_APPROVAL_RESPONSE = "mcpa"
WEB_SEARCH_CALL = "ws"
EVENT = "evt"
WEBHOOK_ENDPOINT = "we"
WEBHOOK_DELIVERY = "whd"
COMPACTION = "cmp"
VECTOR_STORE = "vs"
FILE_SEARCH_CALL = "fs"
