"""The API-key part of MemoryStore (see memory.py)."""

from __future__ import annotations

import dataclasses

from threadline.errors import Conflict
from threadline.storage.base import ApiKeyRecord
from threadline.storage.usage import KeyLimits


class MemoryApiKeys:
    def __init__(self) -> None:
        self._api_keys: dict[str, ApiKeyRecord] = {}

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        # The SQL store's constraints: unique id and hash; a name unique among unrevoked keys.
        for other in self._api_keys.values():
            both_active = other.revoked_at is None and key.revoked_at is None
            same_active_name = both_active and other.name == key.name
            if other.id == key.id or other.key_hash == key.key_hash or same_active_name:
                raise Conflict(
                    f"API key '{key.name}' clashes with an existing key (same name, id or secret)"
                )
        self._api_keys[key.id] = dataclasses.replace(key)

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        keys = self._api_keys.values()
        key = next((k for k in keys if k.key_hash == key_hash and k.revoked_at is None), None)
        return None if key is None else dataclasses.replace(key)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        keys = sorted(self._api_keys.values(), key=lambda k: (k.created_at, k.id))
        return [dataclasses.replace(key) for key in keys]

    async def revoke_api_key(self, key_id_or_name: str, now: float) -> bool:
        keys = [k for k in self._api_keys.values() if key_id_or_name in (k.id, k.name)]
        revoked = [key for key in keys if key.revoked_at is None]
        for key in revoked:
            key.revoked_at = now
        return bool(revoked)

    async def set_api_key_limits(self, key_id_or_name: str, limits: KeyLimits) -> bool:
        keys = [k for k in self._api_keys.values() if key_id_or_name in (k.id, k.name)]
        live = [key for key in keys if key.revoked_at is None]
        for key in live:
            key.limits = limits
        return bool(live)

    async def has_api_keys(self) -> bool:
        return bool(self._api_keys)

    async def forget_revoked_api_keys(self) -> int:
        revoked = [key.id for key in self._api_keys.values() if key.revoked_at is not None]
        for key_id in revoked:
            del self._api_keys[key_id]
        return len(revoked)
