"""Webhook signing secrets at rest: sealed (engine/sealing.py) under `THREADLINE_WEBHOOK_KEY`
or the file `webhook.key` in the data directory, so a copy of the database alone cannot sign."""

from __future__ import annotations

from pathlib import Path

from threadline.engine.sealing import CannotOpen, Sealer
from threadline.errors import ThreadlineError

KEY_FILE = "webhook.key"


class SealedSecrets:
    def __init__(self, key: str | None, data_dir: Path) -> None:
        self._sealer = Sealer([key] if key else [], data_dir / KEY_FILE)

    def seal(self, secret: str) -> str:
        return self._sealer.seal(secret.encode())

    def open(self, sealed: str) -> str:
        try:
            return self._sealer.open(sealed).decode()
        except CannotOpen as exc:
            raise ThreadlineError(
                "A webhook signing secret cannot be opened with this server's key: replicas "
                "sharing a database need the same THREADLINE_WEBHOOK_KEY."
            ) from exc
