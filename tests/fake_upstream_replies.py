"""Pure reply planning for the fake Chat Completions upstream.

No I/O here: `plan_reply` turns a request body into a `Reply`, and `tests/fake_upstream.py`
renders it as JSON or SSE. The directives are documented in that module's docstring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

JSON = dict[str, Any]
Mode = Literal["ok", "fail", "stall", "reset", "garbage"]

LONG_SLEEP = 3600.0
"""How long `stall` waits (it is cut short when the server stops)."""

_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_WORD = re.compile(r"\S+")
_NAME_WORD = re.compile(r"[a-z0-9]+")
_PIECE_BOUNDARY = re.compile(r"(?<=\s)(?=\S)")


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Reply:
    """What the fake model answers; rendered by the server as JSON or as SSE chunks."""

    mode: Mode = "ok"
    content: str | None = ""
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    status: int = 200
    error: JSON | None = None
    delay: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cut_allowed: bool = True


def error_body(status: int, message: str, code: str | None = None) -> JSON:
    """OpenAI's error envelope for an HTTP status."""
    kind, default_code = _ERROR_KINDS.get(
        status, ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    return {
        "error": {"message": message, "type": kind, "param": None, "code": code or default_code}
    }


def count_words(text: str | None) -> int:
    return len(text.split()) if text else 0


def split_pieces(text: str) -> list[str]:
    """Split into word pieces that keep their trailing spaces: "".join(result) == text."""
    return [piece for piece in _PIECE_BOUNDARY.split(text) if piece]


def split_arguments(arguments: str) -> list[str]:
    """Split tool-call arguments into 2 or 3 pieces (1 when shorter than 2 characters)."""
    if len(arguments) < 2:
        return [arguments]
    step = max(1, -(-len(arguments) // 3))
    return [arguments[i : i + step] for i in range(0, len(arguments), step)]


def content_text(content: Any) -> str:
    """The text of a message content: a string, or the concatenated text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _messages(body: JSON) -> list[JSON]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [message for message in messages if isinstance(message, dict)]


def last_user_text(messages: list[JSON]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _tool_results(messages: list[JSON]) -> str:
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") == "assistant":
            break
        if message.get("role") == "tool":
            results.append(content_text(message.get("content")))
    return "tool said: " + " | ".join(reversed(results))


def example_from_schema(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A value satisfying a (simple) JSON schema: "x", 1, 1.5, true, one-element arrays."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 16:
        return None if depth > 16 else "x"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, dict) else {}
        return example_from_schema(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        variants = schema.get(key)
        if isinstance(variants, list) and variants:
            chosen = next((v for v in variants if v.get("type") != "null"), variants[0])
            return example_from_schema(chosen, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_from_schema(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [example_from_schema(schema.get("items", {}), root, depth + 1)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, "x")


def _describe_part(part: Any) -> JSON:
    if not isinstance(part, dict):
        return {"type": type(part).__name__}
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text")}
    if kind == "image_url":
        image = part.get("image_url") or {}
        summary: JSON = {"image_url": image.get("url") if isinstance(image, dict) else image}
        if isinstance(image, dict) and "detail" in image:
            summary["detail"] = image["detail"]
        return summary
    if kind == "input_audio":
        return {"input_audio": (part.get("input_audio") or {}).get("format")}
    if kind == "file":
        file = part.get("file") or {}
        return {"file": file.get("file_id") or file.get("filename")}
    if kind == "refusal":
        return {"refusal": part.get("refusal")}
    return {"type": kind}


def _describe_message(message: JSON) -> JSON:
    content = message.get("content")
    out: JSON = {
        "role": message.get("role"),
        "content": [_describe_part(p) for p in content] if isinstance(content, list) else content,
    }
    for key in ("name", "tool_call_id", "reasoning_content"):
        if key in message:
            out[key] = message[key]
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "id": call.get("id"),
                "name": (call.get("function") or {}).get("name"),
                "arguments": (call.get("function") or {}).get("arguments"),
            }
            for call in message["tool_calls"]
            if isinstance(call, dict)
        ]
    return out


_NOT_PARAMS = frozenset(
    {"messages", "tools", "response_format", "model", "stream", "stream_options"}
    | {"max_tokens", "max_completion_tokens"}
)


def describe(body: JSON) -> str:
    """Compact JSON listing what the fake model received (reply of the `describe` directive)."""
    tools = body.get("tools") or []
    summary = {
        "messages": [_describe_message(m) for m in _messages(body)],
        "tools": [
            (t.get("function") or {}).get("name") if t.get("type") == "function" else t.get("type")
            for t in tools
            if isinstance(t, dict)
        ],
        "response_format": body.get("response_format"),
        "max_tokens": _max_tokens(body),
        "params": {k: v for k, v in body.items() if k not in _NOT_PARAMS},
    }
    return orjson.dumps(summary).decode()


def _max_tokens(body: JSON) -> Any:
    limit = body.get("max_completion_tokens")
    return body.get("max_tokens") if limit is None else limit


def parse_calls(spec: str, new_call_id: Callable[[], str]) -> list[ToolCall]:
    """Parse `<name> <json> ; <name> <json> ...` (missing JSON means "{}")."""
    calls: list[ToolCall] = []
    decoder = json.JSONDecoder()
    rest = spec.strip()
    while rest:
        match = re.match(r"([^\s;]+)\s*", rest)
        if match is None:  # a stray ";"
            rest = rest[1:].lstrip()
            continue
        name, rest = match[1], rest[match.end() :]
        if not rest or rest.startswith(";"):
            arguments = "{}"
        else:
            try:
                _, end = decoder.raw_decode(rest)
                arguments, rest = rest[:end], rest[end:]
            except ValueError:  # not JSON: pass the text through unchanged
                arguments, sep, tail = rest.partition(";")
                arguments, rest = arguments.strip(), sep + tail
        _, _, rest = rest.partition(";")
        rest = rest.lstrip()
        calls.append(ToolCall(new_call_id(), name, arguments))
    return calls


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _base_text(body: JSON, user_text: str, default: str) -> str:
    """The reply when no content directive applies: the response_format example, or default."""
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return default
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return orjson.dumps(example_from_schema(schema)).decode()
    if kind == "json_object":
        return orjson.dumps({"echo": user_text}).decode()
    return default


def _apply_directive(
    reply: Reply, body: JSON, user_text: str, new_call_id: Callable[[], str]
) -> None:
    text = user_text.strip()
    word, _, argument = text.partition(" ")
    argument = argument.strip()
    number = _number(argument) if argument else None
    reply.content = _base_text(body, user_text, f"echo: {user_text}")
    if text == "describe":
        reply.content, reply.cut_allowed = describe(body), False
    elif text in ("stall", "reset", "garbage"):
        reply.mode = text  # type: ignore[assignment]
    elif word == "fail" and (code := _number(argument.partition(" ")[0])) is not None:
        status = int(code) if 400 <= code < 600 else 500
        quoted = argument.partition(" ")[2].strip()
        reply.mode, reply.status = "fail", status
        message = f"fake upstream failure {status}" + (f": {quoted}" if quoted else "")
        reply.error = error_body(status, message)
    elif word == "slow" and number is not None:
        reply.delay = max(0.0, number)
    elif word == "long" and number is not None:
        reply.content = " ".join(f"w{i}" for i in range(1, int(number) + 1))
    elif word == "reason" and argument:
        reply.reasoning, reply.content = argument, "done"
    elif word == "refuse" and argument:
        reply.refusal, reply.content = argument, None
    elif word in ("call", "call2") and argument:
        reply.tool_calls = parse_calls(argument, new_call_id)
        reply.content, reply.finish_reason = None, "tool_calls"
    else:
        call = _implied_call(body, text, new_call_id)
        if call is not None:
            reply.tool_calls = [call]
            reply.content, reply.finish_reason = None, "tool_calls"


def _implied_call(body: JSON, text: str, new_call_id: Callable[[], str]) -> ToolCall | None:
    """The call a model makes without a `call` directive: of the function `tool_choice` forces
    (the first tool when "required"), else of an offered function the text names by a word
    of 4+ letters of its name ("weather" names get_weather). Its arguments are an instance of
    the function's parameters schema."""
    functions: dict[str, JSON] = {}
    for tool in body.get("tools") or ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            functions[function["name"]] = function
    choice = body.get("tool_choice")
    if not functions or choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
    elif choice == "required":
        name = next(iter(functions))
    else:
        said = set(_NAME_WORD.findall(text.lower()))
        name = next(
            (
                n
                for n in functions
                if any(len(w) >= 4 and w in said for w in _NAME_WORD.findall(n.lower()))
            ),
            None,
        )
    if name not in functions:
        return None
    arguments = example_from_schema(functions[name].get("parameters") or {})
    return ToolCall(new_call_id(), name, orjson.dumps(arguments).decode())


def _cut(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    ends = [m.end() for m in _WORD.finditer(text)]
    return text[: ends[limit - 1]] if len(ends) > limit else text


_WINDOW = re.compile(r"fake-window-(\d+)")
"""A model named `fake-window-<N>` refuses a prompt of more than N words, as a real model
refuses one longer than its context window (400, `context_length_exceeded`)."""


def plan_reply(body: JSON, new_call_id: Callable[[], str]) -> Reply:
    """Decide the deterministic answer to one Chat Completions request body."""
    messages = _messages(body)
    reply = Reply(prompt_tokens=sum(count_words(content_text(m.get("content"))) for m in messages))
    model = body.get("model")
    window = _WINDOW.fullmatch(model or "")
    if window is not None and reply.prompt_tokens > int(window.group(1)):
        message = (
            f"This model's maximum context length is {window.group(1)} tokens; your messages "
            f"resulted in {reply.prompt_tokens} tokens."
        )
        reply.mode, reply.status = "fail", 400
        reply.error = error_body(400, message, "context_length_exceeded")
        return reply
    if model == "missing-model":
        message = f"The model `{model}` does not exist or you do not have access to it."
        reply.mode, reply.status = "fail", 404
        reply.error = error_body(404, message, "model_not_found")
        return reply
    user_text = last_user_text(messages)
    if messages and messages[-1].get("role") == "tool":
        reply.content = _base_text(body, user_text, _tool_results(messages))
    else:
        _apply_directive(reply, body, user_text, new_call_id)
    limit = _max_tokens(body)
    if (
        reply.cut_allowed
        and isinstance(limit, int)
        and reply.content is not None
        and count_words(reply.content) > limit
    ):
        reply.content, reply.finish_reason = _cut(reply.content, limit), "length"
    reply.reasoning_tokens = count_words(reply.reasoning)
    reply.completion_tokens = (
        count_words(reply.content)
        + count_words(reply.refusal)
        + reply.reasoning_tokens
        + sum(count_words(call.arguments) for call in reply.tool_calls)
    )
    return reply
