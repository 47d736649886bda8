"""Signing secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256, from
`cryptography`) under a key the operator holds, so a copy of the database alone cannot sign.

The key is `THREADLINE_WEBHOOK_KEY` (a Fernet key: `threadline webhooks key` prints a new one)
or, when that is unset, the file `webhook.key` in the data directory, created on first use
with mode 0600. Replicas sharing a database must share the key (set the variable on each)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from threadline.errors import ThreadlineError

KEY_FILE = "webhook.key"


class SealedSecrets:
    def __init__(self, key: str | None, data_dir: Path) -> None:
        self._key = key
        self._file = data_dir / KEY_FILE
        self._fernet: Fernet | None = None

    def seal(self, secret: str) -> str:
        return self._box().encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._box().decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ThreadlineError(
                "A webhook signing secret cannot be opened with this server's key: replicas "
                "sharing a database need the same THREADLINE_WEBHOOK_KEY."
            ) from exc

    def _box(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._key.encode() if self._key else self._key_file())
        return self._fernet

    def _key_file(self) -> bytes:
        try:
            return self._file.read_bytes().strip()
        except FileNotFoundError:
            pass
        self._file.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            descriptor = os.open(self._file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return self._file.read_bytes().strip()
        with os.fdopen(descriptor, "wb") as out:
            out.write(key)
        return key
