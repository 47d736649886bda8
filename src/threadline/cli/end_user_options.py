"""The options that name an end user (`erase`, `holds`), and how they read."""

from __future__ import annotations

from typing import Annotated

import typer

from threadline.engine.end_users import EndUser
from threadline.errors import InvalidRequest

User = Annotated[str | None, typer.Option(help="The end user named so by requests' `user`.")]
SafetyIdentifier = Annotated[
    str | None, typer.Option(help="The end user named so by requests' `safety_identifier`.")
]
Metadata = Annotated[
    str | None,
    typer.Option(help="The end user named by KEY=VALUE of requests' and conversations' metadata."),
]


def end_user(user: str | None, safety_identifier: str | None, metadata: str | None) -> EndUser:
    """The one end user the options name (a usage error otherwise)."""
    try:
        if user is not None:
            return EndUser("user", user)
        if safety_identifier is not None:
            return EndUser("safety_identifier", safety_identifier)
        key, sep, value = (metadata or "").partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{metadata!r}: expected KEY=VALUE", param_hint="--metadata")
        return EndUser("metadata", value, key)
    except InvalidRequest as exc:
        raise typer.BadParameter(exc.message) from exc


def named_once(*given: object) -> None:
    if sum(value is not None and value is not False for value in given) != 1:
        raise typer.BadParameter(
            "name it once: --user, --safety-identifier or --metadata"
            + (" (or --conversation, --whole-tenant)" if len(given) > 3 else "")
        )
