"""API keys: minted here, stored as SHA-256 hashes, resolved to a tenant per request.

Keys are 256-bit random secrets, so a fast hash is the right tool: there is nothing to
brute-force, and the lookup by hash compares no secret byte-by-byte.

Closed stays closed: once a key is on record the server requires keys, and revoking the last
one leaves it closed (a revoked key stays on record). Opening it again is the operator's act,
`open_server`, which forgets the revoked keys; every process notices within `cache_seconds`
and says so in its log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from threadline import ids
from threadline.engine.clock import Clock, system_clock
from threadline.engine.usage.meter import ANONYMOUS, Payer
from threadline.errors import AuthenticationFailed, Conflict
from threadline.storage.base import ApiKeyRecord, Store
from threadline.storage.files import FileStore
from threadline.storage.usage import NO_LIMITS, KeyLimits

log = logging.getLogger("threadline")

KEY_PREFIX = "tl-"
OPEN_TENANT = "default"
"""The tenant of every request when no key exists (the server runs open)."""
BYOK_TENANT_PREFIX = "byok-"
"""A bring-your-own-key caller's tenant: this, then the first 128 bits of its key's SHA-256."""


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is from: its tenant, its key (None on an open server or with the caller's
    own provider key) and that key's limits, and what the key says an omitted `store` means
    (None: the tenant's default)."""

    tenant: str
    default_store: bool | None = None
    key_id: str | None = None
    limits: KeyLimits = NO_LIMITS

    @property
    def payer(self) -> Payer:
        return Payer(self.key_id, self.limits.metered) if self.key_id else ANONYMOUS


@dataclass(slots=True)
class NewKey:
    record: ApiKeyRecord
    secret: str


async def create_key(
    store: Store,
    name: str,
    tenant: str | None = None,
    clock: Clock = system_clock,
    *,
    default_store: bool | None = None,
    limits: KeyLimits = NO_LIMITS,
) -> NewKey:
    if any(key.name == name for key in await store.list_api_keys()):
        raise Conflict(f"An API key named '{name}' already exists.", param="name")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=ids.new_id("key"),
        tenant=tenant or name,
        name=name,
        key_hash=hash_key(secret),
        created_at=clock(),
        default_store=default_store,
        limits=limits,
    )
    await store.create_api_key(record)
    return NewKey(record, secret)


async def first_key_would_hide_open_data(store: Store, files: FileStore, now: float) -> bool:
    """True when no key is on record yet and the server, open until now, holds responses,
    conversations or files under tenant `default`: a first key for any other tenant puts them
    out of every caller's sight."""
    if await store.has_api_keys():
        return False
    if await store.tenant_has_data(OPEN_TENANT):
        return True
    page = await files.list_files(OPEN_TENANT, now, purpose=None, after=None, limit=1, order="asc")
    return bool(page.files)


async def open_server(store: Store) -> int:
    """Let requests without a key in again, as tenant `default`, by forgetting the revoked
    keys. Refused while a live key exists: revoking it first is the deliberate step. Returns
    how many revoked keys were forgotten."""
    live = [key.name for key in await store.list_api_keys() if key.revoked_at is None]
    if live:
        raise Conflict(
            f"Live API keys exist ({', '.join(live)}): revoke them first "
            "(`threadline keys revoke NAME`), then open the server."
        )
    return await store.forget_revoked_api_keys()


class Authenticator:
    """Resolves a bearer token to a tenant, caching answers briefly so that the common case
    costs no database round trip; a revoked key stops working within `cache_seconds`."""

    def __init__(
        self,
        store: Store,
        cache_seconds: float = 5.0,
        *,
        bring_your_own_key: bool = False,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._callers: dict[str, tuple[Caller, float]] = {}
        self._keys_exist: tuple[bool, float] | None = None
        self.bring_your_own_key = bring_your_own_key
        """Whether the bearer is the caller's own provider key (see `provider_key`)."""

    async def tenant_for(self, authorization: str | None) -> str:
        return (await self.caller_for(authorization)).tenant

    async def caller_for(self, authorization: str | None) -> Caller:
        if self.bring_your_own_key:
            return Caller(BYOK_TENANT_PREFIX + hash_key(_required_token(authorization))[:32])
        if not await self._keys_required():
            return Caller(OPEN_TENANT)
        token = _required_token(authorization)
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._callers.get(digest)
        if cached is not None and cached[1] > now:
            return _unexpired(cached[0], self._clock())
        record = await self._store.find_api_key(digest)
        if record is None or not hmac.compare_digest(record.key_hash, digest):
            raise AuthenticationFailed("Incorrect API key provided.")
        if len(self._callers) > 10_000:
            self._callers.clear()
        caller = Caller(record.tenant, record.default_store, record.id, record.limits)
        self._callers[digest] = (caller, now + self._cache_seconds)
        return _unexpired(caller, self._clock())

    def forget_cached(self) -> None:
        """Drop every cached answer: a key revoked or changed in this process (the console)
        takes effect here at once; other processes see it within `cache_seconds`."""
        self._callers.clear()
        self._keys_exist = None

    async def _keys_required(self) -> bool:
        now = time.monotonic()
        if self._keys_exist is None or self._keys_exist[1] <= now:
            required = await self._store.has_api_keys()
            if self._keys_exist is not None and self._keys_exist[0] != required:
                _log_access_change(required)
            self._keys_exist = (required, now + self._cache_seconds)
        return self._keys_exist[0]

    def provider_key(self, authorization: str | None) -> str | None:
        """The caller's own key for the model provider: the bearer, in bring-your-own-key mode
        (already checked by `tenant_for`); None otherwise."""
        return _bearer_token(authorization) if self.bring_your_own_key else None


def _unexpired(caller: Caller, now: float) -> Caller:
    expires_at = caller.limits.expires_at
    if expires_at is not None and now >= expires_at:
        raise AuthenticationFailed("Incorrect API key provided: this key has expired.")
    return caller


def _log_access_change(required: bool) -> None:
    if required:
        log.info("An API key now exists: requests need one (Authorization: Bearer <key>)")
    else:
        log.warning(
            "The server is now OPEN: no API key is on record (`threadline keys open`), every "
            "request without a key is served as tenant '%s'.",
            OPEN_TENANT,
        )


def _required_token(authorization: str | None) -> str:
    token = _bearer_token(authorization)
    if token is None:
        raise AuthenticationFailed(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    return token


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
