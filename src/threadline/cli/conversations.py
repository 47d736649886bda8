"""`threadline conversations list|show|export|import|close|delete`"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from threadline.cli.backend import Backend, ConversationQuery
from threadline.cli.output import USAGE, JsonOption, fail, out, print_json, when
from threadline.cli.output import table as output_table
from threadline.cli.progress import byte_progress
from threadline.cli.target import (
    ApiKeyOption,
    BaseUrlOption,
    LocalConfigOption,
    LocalDbOption,
    Target,
    TenantOption,
    run_on,
)
from threadline.cli.times import moment
from threadline.cli.transcript import markdown_export, print_transcript

app = typer.Typer(
    help="Conversations: list, read, export, import, close and delete them. Without "
    "--base-url they are read from the local database, as --tenant.",
    no_args_is_help=True,
)

ConversationId = Annotated[str, typer.Argument(help="The conversation id (conv_…).")]


class Status(StrEnum):
    active = "active"
    closed = "closed"
    expired = "expired"


class ExportFormat(StrEnum):
    json = "json"
    markdown = "markdown"


def _metadata_pair(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{value!r}: expected KEY=VALUE")
    return key, val


TimeOption = Annotated[
    str | None, typer.Option(help="Unix seconds, ISO date/time, or an age like 7d.")
]


@app.command("list")
def list_conversations(
    status: Annotated[Status | None, typer.Option(help="Only this status.")] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", help="Only with this metadata KEY=VALUE (repeatable)."),
    ] = None,
    created_after: TimeOption = None,
    created_before: TimeOption = None,
    active_after: TimeOption = None,
    active_before: TimeOption = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Page size.")] = 20,
    after: Annotated[
        str | None, typer.Option(help="Continue after this conversation id (next page).")
    ] = None,
    as_json: JsonOption = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """List conversations, most recently active first, with the API's filters."""
    query = ConversationQuery(
        metadata=dict(_metadata_pair(m) for m in metadata or ()),
        status=status.value if status else None,
        created_after=moment(created_after) if created_after else None,
        created_before=moment(created_before) if created_before else None,
        active_after=moment(active_after) if active_after else None,
        active_before=moment(active_before) if active_before else None,
        after=after,
        limit=limit,
    )

    async def action(backend: Backend) -> dict[str, Any]:
        return await backend.list_conversations(query)

    page = run_on(Target(base_url, api_key, tenant, db, config), action)
    if as_json:
        print_json(page)
        return
    width = max((len(c["id"]) for c in page["data"]), default=0)
    table = output_table("id", "status", "created", "last active", "metadata", key_width=width)
    for c in page["data"]:
        meta = ", ".join(f"{k}={v}" for k, v in (c.get("metadata") or {}).items())
        table.add_row(
            c["id"],
            c.get("status", ""),
            when(c["created_at"]),
            when(c.get("last_active_at")),
            Text(meta),
        )
    out.print(table)
    if page["has_more"]:
        out.print(f"[dim]more: --after {page['last_id']}[/dim]", highlight=False)


@app.command()
def show(
    conversation_id: ConversationId,
    as_json: JsonOption = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Show a conversation and its transcript."""

    async def action(backend: Backend) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        found = await backend.get_conversation(conversation_id)
        return found, await backend.conversation_items(conversation_id)

    conversation, items = run_on(Target(base_url, api_key, tenant, db, config), action)
    if as_json:
        print_json({"conversation": conversation, "items": items})
        return
    meta = ", ".join(f"{k}={v}" for k, v in (conversation.get("metadata") or {}).items())
    out.print(Text(conversation["id"], style="bold"))
    summary = f"created {when(conversation['created_at'])}, "
    summary += f"{conversation.get('status', 'active')}, {len(items)} items"
    out.print(Text(summary + (f", {meta}" if meta else ""), style="dim"))
    print_transcript(out, items)


@app.command()
def export(
    conversation_id: ConversationId,
    format_: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="json (re-importable) or markdown.")
    ] = ExportFormat.json,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Export a conversation: JSON that `import` takes back, or a Markdown transcript."""

    async def action(backend: Backend) -> dict[str, Any]:
        return await backend.export_conversation(conversation_id)

    document = run_on(Target(base_url, api_key, tenant, db, config), action)
    if format_ is ExportFormat.markdown:
        text = markdown_export(document)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    typer.echo(f"exported {len(document['items'])} items to {output}", err=True)


@app.command("import")
def import_conversation(
    file: Annotated[
        Path,
        typer.Argument(
            help="A JSON export, or a chat-message list [{'role': …, 'content': …}]; - for stdin."
        ),
    ],
    as_json: JsonOption = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Import a conversation (it gets a new id; item ids and metadata are kept)."""
    document = _read(file)
    with byte_progress() as progress:
        task = progress.add_task(f"sending {file.name or 'stdin'}", total=len(document))

        def sent(count: int) -> None:
            progress.advance(task, count)
            if progress.tasks[task].finished:  # the rest is the database's work
                progress.update(task, description="saving the conversation")

        async def action(backend: Backend) -> dict[str, Any]:
            return await backend.import_conversation(document, sent)

        created = run_on(Target(base_url, api_key, tenant, db, config), action)
    if as_json:
        print_json(created)
        return
    typer.echo(created["id"])


@app.command()
def close(
    conversation_id: ConversationId,
    as_json: JsonOption = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Close a conversation: it stays readable, and new turns in it are refused."""

    async def action(backend: Backend) -> dict[str, Any]:
        return await backend.close_conversation(conversation_id)

    closed = run_on(Target(base_url, api_key, tenant, db, config), action)
    if as_json:
        print_json(closed)
        return
    typer.echo(f"closed {closed['id']}")


@app.command()
def delete(
    conversation_id: ConversationId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    tenant: TenantOption = "default",
    db: LocalDbOption = None,
    config: LocalConfigOption = None,
) -> None:
    """Delete a conversation with its items and turns (asks first on a terminal)."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Delete {conversation_id} and everything in it?", abort=True)

    async def action(backend: Backend) -> dict[str, Any]:
        return await backend.delete_conversation(conversation_id)

    run_on(Target(base_url, api_key, tenant, db, config), action)
    typer.echo(f"deleted {conversation_id}")


def _read(file: Path) -> bytes:
    if str(file) == "-":
        return sys.stdin.buffer.read()
    try:
        return file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", code=USAGE)
