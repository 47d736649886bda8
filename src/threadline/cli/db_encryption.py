"""`threadline db encryption-key|reencrypt`: keys for encryption at rest, and re-sealing what is
stored after a rotation (docs/encryption.md)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from threadline.cli.common import ConfigOption, DbOption, run_with_store, settings_from
from threadline.cli.output import USAGE, JsonOption, fail, out, print_json
from threadline.cli.progress import spinner
from threadline.storage.base import Store
from threadline.storage.encryption import ContentKeyMissing, ContentUnreadable, new_key_entry
from threadline.storage.resealing import RESEAL_BATCH


def register(app: typer.Typer) -> None:
    app.command("encryption-key")(encryption_key)
    app.command()(reencrypt)


def encryption_key(
    key_id: Annotated[
        str | None,
        typer.Option("--id", help="The key's id [default: k<date and time>, e.g. k20261204-1830]."),
    ] = None,
) -> None:
    """Print a new encryption key as `id:base64key`, for encryption_keys or a key file."""
    chosen = key_id or time.strftime("k%Y%m%d-%H%M", time.gmtime())
    try:
        typer.echo(new_key_entry(chosen))
    except ValueError as exc:
        fail(str(exc), code=USAGE)


def reencrypt(
    batch: Annotated[int, typer.Option(min=1, help="Rows per write transaction.")] = RESEAL_BATCH,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Seal all stored content under the first encryption key: content stored before encryption
    was turned on, and content sealed under older keys (after a rotation). Safe beside running
    servers that already have the new key first; then the old key can be dropped."""
    settings = settings_from(config, db)
    codec = settings.content_codec()
    if codec.ring is None:
        fail(
            "no encryption key is set: there is nothing to encrypt with",
            hint="set THREADLINE_ENCRYPTION_KEYS (or encryption_key_file); "
            "`threadline db encryption-key` makes a key",
            code=USAGE,
        )
    active = codec.ring.active.id

    async def action(store: Store) -> dict[str, int]:
        with spinner() as progress:
            task = progress.add_task("re-sealing", total=None)

            def seen(kind: str, done: int) -> None:
                progress.update(task, description=f"re-sealing {kind}: {done}")

            try:
                return await store.reseal_content(batch=batch, progress=seen)
            except (ContentKeyMissing, ContentUnreadable) as exc:
                fail(f"{exc} (what was sealed before this value stays sealed)")

    counts = run_with_store(settings, action)
    if as_json:
        print_json({"key": active, "resealed": counts})
        return
    total = sum(counts.values())
    out.print(f"sealed under key '{active}': {total} value(s)", highlight=False)
    for kind, count in counts.items():
        out.print(f"  {kind}: {count}", highlight=False)
