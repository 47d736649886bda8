"""Secrets and opaque payloads at rest or in clients' hands, sealed with Fernet (AES-128-CBC +
HMAC-SHA256, from `cryptography`) under keys the operator holds.

The keys come from a setting (several, comma-separated: the first seals, every one opens, so a
key is rotated by putting a new one first and dropping the old one once nothing sealed with it
is needed), or, when that is unset, from a key file in the data directory, created on first use
with mode 0600. Replicas sharing a database must share the keys (set the setting on each)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CannotOpen(Exception):
    """The token was altered, or sealed under a key this server does not hold."""


class Sealer:
    def __init__(self, keys: list[str], key_file: Path) -> None:
        self._keys = keys
        self._file = key_file
        self._fernet: MultiFernet | None = None

    def seal(self, plain: bytes) -> str:
        return self._box().encrypt(plain).decode()

    def open(self, sealed: str) -> bytes:
        try:
            return self._box().decrypt(sealed.encode())
        except (InvalidToken, ValueError) as exc:
            raise CannotOpen from exc

    def _box(self) -> MultiFernet:
        if self._fernet is None:
            keys = [k.encode() for k in self._keys] or [self._key_file()]
            self._fernet = MultiFernet([Fernet(k) for k in keys])
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
