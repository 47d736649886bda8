"""Encryption at rest of stored content: envelope encryption under keys the operator holds.

What is sealed: every stored item's JSON, a response's settings (they hold its instructions),
a stored chat completion's messages and answer, a background response's request and its
replayable stream events. Ids, tenants, times, statuses, models, usage and metadata stay in
the clear: the stores filter, order and account by them.

The envelope: each process draws a random AES-256-GCM data key, wraps it under the key ring's
first key (the key-encryption key), and seals values under the data key, each with its own
96-bit nonce: a random prefix drawn with the data key and a counter (NIST SP 800-38D's
deterministic construction; the data key is this process's alone, so no nonce repeats). A
sealed value is text, so every column and document field keeps its type:

    tle1:<key id>:<wrapped data key>:<nonce + ciphertext + tag>      (base64url, unpadded)

Any replica holding the key named by the id can open it; unwrapped data keys are cached. A
value that is not sealed is plain JSON (which never starts with `tle1:`): content stored before
encryption was turned on stays readable, and `threadline db reencrypt` seals it.

Rotation: put a new key first in the ring (every key in the ring opens; the first seals), run
`threadline db reencrypt`, which re-seals what is sealed under any other key, then drop the old
key. The server keeps serving throughout.

Search: the full-text index cannot hold plain words of sealed content, so with a ring its terms
are blind: a keyed hash (HMAC-SHA256 under a key derived from the ring's key) of each word,
and a query looks for a word's hash under every key in the ring (and for the word itself, for
items indexed before encryption). Whole words match, case-insensitively; English stemming, which
the SQL indexes apply to plain words, does not reach through a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from threadline.storage.item_search import item_text
from threadline.storage.vector_ranking import words

PREFIX = "tle1:"
KEY_BYTES = 32
_NONCE = 12
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_WRAP_CONTEXT = b"threadline data key v1"
_INDEX_CONTEXT = b"threadline search index v1"
_SEALS_PER_DATA_KEY = 1 << 24
"""Values sealed under one data key before the process draws another, to keep what one key
protects small (the counter would allow 2**64)."""
_OPENED_KEYS = 4096
"""Unwrapped data keys kept per process (one per process start per key, in practice)."""


class ContentKeyMissing(RuntimeError):
    """Stored content is sealed under a key that is not in this server's key ring."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"stored content is encrypted under the key '{key_id}', which is not among this "
            "server's encryption_keys: add that key to the ring (it may come after the first)"
        )
        self.key_id = key_id


class ContentUnreadable(RuntimeError):
    """A sealed value failed authentication: it was altered, or the key was replaced."""


@dataclass(frozen=True, slots=True)
class ContentKey:
    id: str
    secret: bytes = field(repr=False)


class KeyRing:
    """The operator's keys, the first of which seals; each opens what was sealed under it."""

    def __init__(self, keys: Sequence[ContentKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        ids = [key.id for key in keys]
        if len(set(ids)) != len(ids):
            raise ValueError("encryption key ids must be unique")
        self.keys = tuple(keys)
        self.active = self.keys[0]
        self._by_id = {key.id: key for key in self.keys}

    @classmethod
    def parse(cls, entries: Iterable[str]) -> KeyRing:
        """Keys written `id:base64key` (what `threadline db encryption-key` prints). Messages
        name a key by its id or position, never by its secret."""
        keys = []
        for number, entry in enumerate(entries, start=1):
            key_id, sep, encoded = entry.strip().partition(":")
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise ValueError(
                    f"encryption key {number} must be written id:base64key, the id made of "
                    "letters, digits, '-' and '_' (up to 40)"
                )
            try:
                secret = base64.urlsafe_b64decode(_padded(encoded.strip()))
            except ValueError as exc:
                raise ValueError(f"encryption key '{key_id}' is not valid base64") from exc
            if len(secret) != KEY_BYTES:
                raise ValueError(
                    f"encryption key '{key_id}' must be {KEY_BYTES} bytes (AES-256), "
                    f"got {len(secret)}"
                )
            keys.append(ContentKey(key_id, secret))
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """One `id:base64key` per line, the sealing key first; blank lines and `#` comments
        are skipped."""
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(
                f"cannot read the encryption key file {path}: {exc.strerror or exc}"
            ) from exc
        lines = [line.strip() for line in text.splitlines()]
        return cls.parse(line for line in lines if line and not line.startswith("#"))

    def get(self, key_id: str) -> ContentKey | None:
        return self._by_id.get(key_id)


def content_codec(keys: Sequence[str], key_file: Path | None) -> ContentCodec:
    """The codec the operator's settings ask for: keys given in the settings or in a key file
    (not both), or none (plain JSON). Raises ValueError naming what is wrong, never a key."""
    if keys and key_file is not None:
        raise ValueError("set encryption_keys or encryption_key_file, not both")
    if key_file is not None:
        return ContentCodec(KeyRing.from_file(key_file))
    return ContentCodec(KeyRing.parse(keys) if keys else None)


def new_key_entry(key_id: str) -> str:
    """A fresh key, written as a key ring takes it."""
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"the key id {key_id!r} must be letters, digits, '-' and '_' (up to 40)")
    return f"{key_id}:{_b64(os.urandom(KEY_BYTES))}"


class _DataKey:
    __slots__ = ("aead", "header", "pid", "prefix", "sealed")

    def __init__(self, aead: AESGCM, header: str) -> None:
        self.aead = aead
        self.header = header
        self.pid = os.getpid()
        self.prefix = os.urandom(_NONCE - 8)
        self.sealed = itertools.count()
        """Values sealed so far: the nonce's counter (`next` is atomic under the GIL)."""


class ContentCodec:
    """Stored content to text and back: JSON, sealed when a key ring is given.

    One per store; safe to share between threads (a race on a data key's use count only lets a
    few more values be sealed under it)."""

    def __init__(self, ring: KeyRing | None = None) -> None:
        self.ring = ring
        self._current: _DataKey | None = None
        self._opened: dict[tuple[str, str], AESGCM] = {}
        self._lock = threading.Lock()
        self._index_keys = (
            {}
            if ring is None
            else {key.id: _derive(key.secret, _INDEX_CONTEXT) for key in ring.keys}
        )

    @property
    def sealing(self) -> bool:
        return self.ring is not None

    # -- values -------------------------------------------------------------------------------
    def dump(self, value: Any) -> str:
        """The stored text of a JSON value; raises TypeError (orjson's) for what JSON cannot
        hold."""
        raw = orjson.dumps(value)
        if self.ring is None:
            return raw.decode()
        return self._seal(raw)

    def dump_optional(self, value: Any) -> str | None:
        return None if value is None else self.dump(value)

    def load(self, text: str) -> Any:
        """The value stored as `text`, sealed or plain."""
        if text.startswith(PREFIX):
            return orjson.loads(self._open(text))
        return orjson.loads(text)

    def load_optional(self, text: str | None) -> Any:
        return None if text is None else self.load(text)

    def is_current(self, text: str) -> bool:
        """Whether `text` is stored as this codec would store it now: sealed under the ring's
        first key, or plain when there is no ring."""
        if self.ring is None:
            return not text.startswith(PREFIX)
        return text.startswith(f"{PREFIX}{self.ring.active.id}:")

    def restored(self, text: str) -> str:
        """`text` stored as this codec stores content now (opened and sealed again)."""
        return self.dump(self.load(text))

    # -- search -------------------------------------------------------------------------------
    def index_text(self, item: Any) -> str:
        """What the full-text index holds for an item: its text, or with a ring, the blind
        terms of its words, in order."""
        text = item_text(item)
        if self.ring is None:
            return text
        key = self._index_keys[self.ring.active.id]
        return " ".join(_blind(key, word) for word in words(text))

    def index_words(self, item: Any) -> list[str]:
        """The distinct blind terms of an item (for a store that keeps them as a list); empty
        without a ring."""
        if self.ring is None:
            return []
        return sorted(set(self.index_text(item).split()))

    def query_terms(self, word: str) -> list[str]:
        """The index terms one query word is found by: the word, and with a ring its blind
        term under every key (items indexed before encryption, or before a rotation's
        re-encryption reached them, are still found)."""
        return [word, *(_blind(key, word) for key in self._index_keys.values())]

    # -- envelope -----------------------------------------------------------------------------
    def _seal(self, raw: bytes) -> str:
        data_key = self._current or self._draw_data_key(None)
        count = next(data_key.sealed)
        # A forked child must not go on with its parent's counter under the same key.
        if count >= _SEALS_PER_DATA_KEY or data_key.pid != os.getpid():
            data_key = self._draw_data_key(data_key)
            count = next(data_key.sealed)
        nonce = data_key.prefix + count.to_bytes(8, "big")
        return data_key.header + _b64(nonce + data_key.aead.encrypt(nonce, raw, None))

    def _draw_data_key(self, spent: _DataKey | None) -> _DataKey:
        """A new data key in place of `spent` (None: the first), unless another thread drew
        one meanwhile."""
        assert self.ring is not None
        with self._lock:
            current = self._current
            if current is not None and current is not spent:
                return current
            secret = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(_NONCE)
            key = self.ring.active
            wrapped = nonce + AESGCM(key.secret).encrypt(nonce, secret, _WRAP_CONTEXT)
            self._current = _DataKey(AESGCM(secret), f"{PREFIX}{key.id}:{_b64(wrapped)}:")
            return self._current

    def _open(self, text: str) -> bytes:
        try:
            _, key_id, wrapped, body = text.split(":", 3)
        except ValueError:
            raise ContentUnreadable("a stored value is not in the sealed format") from None
        aead = self._opened.get((key_id, wrapped)) or self._unwrap(key_id, wrapped)
        try:
            sealed = base64.urlsafe_b64decode(_padded(body))
            return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], None)
        except (InvalidTag, ValueError):
            raise ContentUnreadable(
                f"a stored value sealed under the key '{key_id}' failed authentication"
            ) from None

    def _unwrap(self, key_id: str, wrapped: str) -> AESGCM:
        key = None if self.ring is None else self.ring.get(key_id)
        if key is None:
            raise ContentKeyMissing(key_id)
        try:
            raw = base64.urlsafe_b64decode(_padded(wrapped))
            secret = AESGCM(key.secret).decrypt(raw[:_NONCE], raw[_NONCE:], _WRAP_CONTEXT)
        except (InvalidTag, ValueError):
            raise ContentUnreadable(
                f"a data key wrapped under the key '{key_id}' failed authentication: "
                "the key with that id is not the one that sealed it"
            ) from None
        aead = AESGCM(secret)
        with self._lock:  # readers open values in several threads
            if len(self._opened) >= _OPENED_KEYS:
                self._opened.pop(next(iter(self._opened)))
            self._opened[(key_id, wrapped)] = aead
        return aead


PLAIN = ContentCodec()
"""Content stored as plain JSON (no key ring)."""


def _derive(secret: bytes, context: bytes) -> bytes:
    return hmac.new(secret, context, hashlib.sha256).digest()


# Letters only: a text-search parser reads a mix of digits and letters in its own ways (a
# number, an exponent), which could cut a term in two.
_AS_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def _blind(key: bytes, word: str) -> str:
    """The blind term of a word: 80 bits of its HMAC, as letters."""
    return hmac.new(key, word.encode(), hashlib.sha256).hexdigest()[:20].translate(_AS_LETTERS)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)
