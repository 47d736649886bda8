"""Validate what Threadline sends against OpenAI's OpenAPI document in ../shared/spec/."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_DIRS = [
    Path(__file__).resolve().parents[1] / "shared" / "spec",
    Path(__file__).resolve().parents[2] / "shared" / "spec",
]


@functools.cache
def _document() -> dict[str, Any]:
    for directory in SPEC_DIRS:
        path = directory / "openai-openapi.json"
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
    raise FileNotFoundError("shared/spec/openai-openapi.json not found beside the repository")


@functools.cache
def _registry() -> Registry[Any]:
    resource = Resource.from_contents(_document(), default_specification=DRAFT202012)
    return Registry().with_resource("openai", resource)


@functools.cache
def _event_schema_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for name, schema in _document()["components"]["schemas"].items():
        if not (name.startswith("Response") and name.endswith("Event")):
            continue
        enum = schema.get("properties", {}).get("type", {}).get("enum") or []
        if len(enum) == 1:
            names[enum[0]] = name
    return names


def validate_component(instance: Any, name: str) -> None:
    schema = {"$ref": f"openai#/components/schemas/{name}"}
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    errors = sorted(validator.iter_errors(instance), key=lambda e: e.path)
    if errors:
        detail = "; ".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])
        raise AssertionError(f"not a valid {name}: {detail}")


def validate_event(event: dict[str, Any]) -> None:
    name = _event_schema_names().get(event["type"])
    if name is None:
        raise AssertionError(f"the spec has no event of type {event['type']!r}")
    validate_component(event, name)
