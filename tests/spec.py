"""Validate what Threadline sends against both specs it speaks: OpenAI's OpenAPI document and the
Open Responses one, found in ``../shared/spec/`` (or in ``$THREADLINE_TEST_SPEC_DIR``).

The specs are not part of the repository. Where they are missing (a fresh clone), the checks
that the API fixtures run on every body and event (`tests/spec_transport.py`) do nothing, the
session header says so, and the tests that exist only to check the specs are skipped
(`require_specs()`), never failed.

The two specs name their schemas differently (`Response` / `ResponseResource`,
`ResponseTextDeltaEvent` / `ResponseOutputTextDeltaStreamingEvent`): each is mapped by what its
objects say they are (`object`, or an event's `type`). Open Responses defines only function
tools and the message / function-call / reasoning items; an object of a type it does not define
(OpenAI's hosted tools: `mcp_call`, `web_search_call`, their tools and events) is checked
against OpenAI's spec only.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAI = "openai-openapi.json"
OPEN_RESPONSES = "openresponses-openapi.json"


def spec_dirs() -> list[Path]:
    override = os.environ.get("THREADLINE_TEST_SPEC_DIR")
    if override:
        return [Path(override)]
    return [
        Path(__file__).resolve().parents[1] / "shared" / "spec",
        Path(__file__).resolve().parents[2] / "shared" / "spec",
    ]


@functools.cache
def _find(filename: str) -> Path | None:
    for directory in spec_dirs():
        if (directory / filename).exists():
            return directory / filename
    return None


def missing_specs() -> list[str]:
    return [name for name in (OPENAI, OPEN_RESPONSES) if _find(name) is None]


def specs_available() -> bool:
    return not missing_specs()


def unavailable_reason() -> str:
    where = " or ".join(str(d) for d in spec_dirs())
    return f"spec checks skipped: {', '.join(missing_specs())} not found in {where}"


def require_specs() -> None:
    """Skip the calling test (with the reason) when the spec documents are not beside us."""
    if not specs_available():
        pytest.skip(unavailable_reason())


@dataclass(frozen=True)
class _Spec:
    name: str
    document: dict[str, Any]
    registry: Registry[Any]

    @property
    def schemas(self) -> dict[str, Any]:
        schemas: dict[str, Any] = self.document["components"]["schemas"]
        return schemas


@functools.cache
def _spec(filename: str) -> _Spec:
    path = _find(filename)
    if path is None:
        raise FileNotFoundError(unavailable_reason())
    document: dict[str, Any] = _with_nullable(json.loads(path.read_text()))
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    return _Spec(filename, document, Registry().with_resource(filename, resource))


def _with_nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (which parts of OpenAI's document still use) in JSON
    Schema terms, which the validator reads: the schema, or null."""
    if isinstance(node, list):
        return [_with_nullable(value) for value in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _with_nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _event_schema_names(filename: str) -> dict[str, str]:
    """Event type → the schema that defines it (`ResponseCreatedEvent`, …)."""
    names: dict[str, str] = {}
    for name, schema in _spec(filename).schemas.items():
        if not name.endswith(("Event", "StreamingEvent")) or name.startswith("WebSocket"):
            continue
        enum = schema.get("properties", {}).get("type", {}).get("enum") or []
        if len(enum) == 1:
            names[enum[0]] = name
    return names


def _union_types(spec: _Spec, name: str) -> set[str]:
    """The `type` values a union schema (`ItemField`, `Tool`) admits."""
    schema = spec.schemas[name]
    branches = schema.get("oneOf") or schema.get("anyOf") or [schema]
    types: set[str] = set()
    for branch in branches:
        target = spec.schemas[branch["$ref"].rsplit("/", 1)[-1]] if "$ref" in branch else branch
        types.update(target.get("properties", {}).get("type", {}).get("enum") or [])
    return types


@functools.cache
def _open_responses_types() -> tuple[frozenset[str], frozenset[str]]:
    spec = _spec(OPEN_RESPONSES)
    return frozenset(_union_types(spec, "ItemField")), frozenset(_union_types(spec, "Tool"))


def _validate(filename: str, instance: Any, name: str) -> None:
    spec = _spec(filename)
    schema = {"$ref": f"{filename}#/components/schemas/{name}"}
    validator = jsonschema.Draft202012Validator(schema, registry=spec.registry)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        detail = "; ".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])
        raise AssertionError(f"not a valid {name} of {filename}: {detail}")


def validate_component(instance: Any, name: str) -> None:
    """Validate against the OpenAI schema `name` (no-op when the specs are missing)."""
    if specs_available():
        _validate(OPENAI, instance, name)


_OPEN_RESPONSES_ANNOTATIONS = frozenset({"url_citation"})
"""The annotation types Open Responses defines (its `Annotation` is `UrlCitationBody`)."""


def _known_annotations(item: dict[str, Any]) -> dict[str, Any]:
    """A message with only the annotations Open Responses defines (OpenAI's file citations
    belong to a hosted tool outside it)."""
    if item.get("type") != "message" or not isinstance(item.get("content"), list):
        return item
    content = [
        {
            **part,
            "annotations": [
                a for a in part["annotations"] if a.get("type") in _OPEN_RESPONSES_ANNOTATIONS
            ],
        }
        if isinstance(part.get("annotations"), list)
        else part
        for part in item["content"]
    ]
    return {**item, "content": content}


def _in_open_responses_terms(response: dict[str, Any]) -> dict[str, Any]:
    items, tools = _open_responses_types()
    adjusted = {
        **response,
        "output": [
            _known_annotations(i) for i in response.get("output", []) if i.get("type") in items
        ],
        "tools": [t for t in response.get("tools", []) if t.get("type") in tools],
    }
    choice = response.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") not in (*tools, "function", "allowed_tools"):
        # A hosted tool outside Open Responses (file_search): named by a choice it cannot type.
        adjusted["tool_choice"] = "auto"
    text_format = (response.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        # Where the specs contradict each other, the echo follows OpenAI's: Open Responses
        # 2026-04-24 types `JsonSchemaResponseFormat.schema` as null (its generator's rendering
        # of "any") and requires a `description` that may be null, which OpenAI's schema types
        # as a string only.
        fixed = {**text_format, "schema": None}
        fixed.setdefault("description", None)
        adjusted["text"] = {**response["text"], "format": fixed}
    return adjusted


def validate_response(response: dict[str, Any]) -> None:
    """A Response object: OpenAI's `Response` and Open Responses' `ResponseResource`."""
    if not specs_available():
        return
    _validate(OPENAI, response, "Response")
    _validate(OPEN_RESPONSES, _in_open_responses_terms(response), "ResponseResource")


def validate_event(event: dict[str, Any]) -> None:
    """A stream event: its schema in OpenAI's spec, and in Open Responses' where it defines
    the event (and the item it carries)."""
    if not specs_available():
        return
    kind = event["type"]
    name = _event_schema_names(OPENAI).get(kind)
    if name is None:
        raise AssertionError(f"OpenAI's spec has no event of type {kind!r}")
    _validate(OPENAI, event, name)
    open_name = _event_schema_names(OPEN_RESPONSES).get(kind)
    if open_name is None:
        return
    items, _ = _open_responses_types()
    if isinstance(event.get("item"), dict) and event["item"].get("type") not in items:
        return
    annotation = event.get("annotation")
    if isinstance(annotation, dict) and annotation.get("type") not in _OPEN_RESPONSES_ANNOTATIONS:
        return
    if isinstance(event.get("item"), dict):
        event = {**event, "item": _known_annotations(event["item"])}
    if isinstance(event.get("part"), dict) and isinstance(event["part"].get("annotations"), list):
        kept = [
            a for a in event["part"]["annotations"] if a.get("type") in _OPEN_RESPONSES_ANNOTATIONS
        ]
        event = {**event, "part": {**event["part"], "annotations": kept}}
    if isinstance(event.get("response"), dict):
        event = {**event, "response": _in_open_responses_terms(event["response"])}
    _validate(OPEN_RESPONSES, event, open_name)


def open_responses_event_types() -> set[str]:
    return set(_event_schema_names(OPEN_RESPONSES))
