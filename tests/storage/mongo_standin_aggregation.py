"""Aggregation for the MongoDB stand-in (mongo_standin.py): mongomock's stages, plus the
`$lookup` with `let`/`pipeline` that mongomock lacks, and a guard against what mongomock would
evaluate unlike MongoDB.

mongomock returns array literals holding expressions (`[{"a": "$x"}]`) unevaluated, and does not
follow a `$lookup` `localField` path through arrays; MongoDB does both. A pipeline that relies
on either is refused with NotImplementedError, so the stand-in never answers wrongly where a
real server would answer right (or the other way round).
"""

from __future__ import annotations

from typing import Any

import mongomock
from mongomock.aggregate import process_pipeline

Document = dict[str, Any]


def run_pipeline(
    database: mongomock.Database, documents: list[Document], pipeline: list[Document]
) -> list[Document]:
    for stage in pipeline:
        ((operator, options),) = stage.items()
        if operator == "$lookup" and ("pipeline" in options or "let" in options):
            documents = [_lookup(database, document, options) for document in documents]
        else:
            documents = list(process_pipeline(documents, database, [stage], None))
    return documents


def _lookup(database: mongomock.Database, document: Document, options: Document) -> Document:
    """`$lookup` with `let` and `pipeline` (and optionally `localField`/`foreignField`),
    each variable bound to its value for this document."""
    names = list(options.get("let", {}))
    values: Document = {}
    if names:
        projection = {"$project": {"_id": 0, **options["let"]}}
        (values,) = process_pipeline([document], database, [projection], None)
    pipeline = _bind(options.get("pipeline", []), {name: values.get(name) for name in names})
    query: Document = {}
    if "localField" in options:
        # A missing localField is null, which matches documents lacking foreignField.
        local = document.get(options["localField"])
        query = {options["foreignField"]: {"$in": local} if isinstance(local, list) else local}
    joined = list(database[options["from"]].find(query))
    return {**document, options["as"]: run_pipeline(database, joined, pipeline)}


def _bind(value: Any, variables: Document) -> Any:
    """`value` with each `$$name` of `variables` replaced by its value as a literal."""
    if isinstance(value, str) and value.startswith("$$"):
        name = value[2:]
        if "." in name and name.split(".")[0] in variables:
            raise NotImplementedError(f"the stand-in cannot bind a path into {value!r}")
        return {"$literal": variables[name]} if name in variables else value
    if isinstance(value, list):
        return [_bind(element, variables) for element in value]
    if isinstance(value, dict):
        return {key: _bind(element, variables) for key, element in value.items()}
    return value


def refuse_unfaithful(pipeline: list[Document]) -> None:
    """Raise NotImplementedError for a pipeline mongomock would evaluate unlike MongoDB."""
    for stage in pipeline:
        ((operator, options),) = stage.items()
        if operator == "$lookup":
            if "." in options.get("localField", ""):
                raise NotImplementedError("the stand-in does not follow localField paths")
            refuse_unfaithful(options.get("pipeline", []))
            _check_expression(options.get("let", {}))
        else:
            _check_expression(options)


def _check_expression(value: Any, *, argument_list: bool = False) -> None:
    """An operator's arguments may be expressions; any other list is an array literal."""
    if isinstance(value, dict):
        for key, element in value.items():
            _check_expression(element, argument_list=key.startswith("$"))
    elif isinstance(value, list):
        if not argument_list and any(_is_expression(element) for element in value):
            raise NotImplementedError(
                f"mongomock does not evaluate expressions inside the array literal {value!r}"
            )
        for element in value:
            _check_expression(element)


def _is_expression(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("$")
    if isinstance(value, dict):
        return any(key.startswith("$") or _is_expression(v) for key, v in value.items())
    if isinstance(value, list):
        return any(_is_expression(element) for element in value)
    return False
