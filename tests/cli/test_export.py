"""`threadline export`: a tenant's data for a pipeline, from the local database, as NDJSON or
Parquet; run again with the same cursor file, it sends only what changed, deletions included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tests.cli.conftest import MODEL, Cli


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_export_resumes_from_its_cursor_file_with_only_what_changed(
    cli: Cli, tmp_path: Path
) -> None:
    cli.local("chat", "-m", MODEL, input="one\ntwo\n")
    cursor, first = tmp_path / "cursor", tmp_path / "first.ndjson"
    done = cli.local("export", "--cursor-file", str(cursor), "-o", str(first))
    records = _records(first)
    assert f"{len(records)} records; cursor: " in done.stderr.replace("\n", "")
    assert cursor.read_text().startswith("tlx1_")
    by_type = {r["type"] for r in records}
    assert by_type == {"response", "conversation", "conversation.item"}
    responses = [r for r in records if r["type"] == "response"]
    assert len(responses) == 2 and all(r["response"]["usage"] for r in responses)
    assert responses[0]["input_items"][0]["content"][0]["text"] == "one"
    (conversation,) = [r["id"] for r in records if r["type"] == "conversation"]

    cli.local("conversations", "delete", conversation, "--yes")
    second = tmp_path / "second.ndjson"
    cli.local("export", "--cursor-file", str(cursor), "-o", str(second))
    changed = _records(second)
    assert changed and all(r["deleted"] for r in changed)
    assert {(r["type"], r.get("id")) for r in changed if r["type"] != "conversation.item"} == {
        ("conversation", conversation),
        *(("response", r["id"]) for r in responses),
    }
    third = tmp_path / "third.ndjson"
    cli.local("export", "--cursor-file", str(cursor), "-o", str(third))
    assert _records(third) == []


def test_an_export_to_parquet_has_a_row_per_record(cli: Cli, tmp_path: Path) -> None:
    cli.local("chat", "-m", MODEL, input="one\n")
    ndjson, parquet = tmp_path / "out.ndjson", tmp_path / "out.parquet"
    cli.local("export", "-o", str(ndjson))
    cli.local("export", "--format", "parquet", "-o", str(parquet))
    table = pq.read_table(parquet)
    records = _records(ndjson)
    assert table.num_rows == len(records)
    assert table.column_names == [
        "type",
        "id",
        "deleted",
        "changed_at",
        "conversation_id",
        "position",
        "data",
    ]
    rows = table.to_pylist()
    response = next(r for r in rows if r["type"] == "response")
    assert json.loads(response["data"])["response"]["id"] == response["id"]


def test_an_export_to_standard_output_is_ndjson(cli: Cli) -> None:
    cli.local("chat", "-m", MODEL, input="one\n")
    lines = cli.local("export", "--since", "1d").stdout.splitlines()
    assert lines and all(json.loads(line)["type"] for line in lines)
    assert cli.local("export", "--since", "2999-01-01").stdout == ""


def test_export_refuses_what_it_cannot_do(cli: Cli, tmp_path: Path) -> None:
    cli.local("chat", "-m", MODEL, input="one\n")
    assert "cursor" in cli.local("export", "--cursor", "nonsense", code=2).stderr
    expired = cli.local("export", "--cursor", "tlx1_0_1_1", code=2).stderr
    assert "export again without a cursor" in expired.replace("\n", " ")
    assert "--output" in cli.local("export", "--format", "parquet", code=2).stderr
    assert "not a time" in cli.local("export", "--since", "soon", code=2).stderr
