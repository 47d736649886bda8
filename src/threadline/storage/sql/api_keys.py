"""The API key half of the SQL store: each operation's body, as a function of a sync
`Connection` that databases.py runs in one call. `find_api_key` runs on every authenticated
request, so its statement is built once (queries.py)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Row, delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from threadline.errors import Conflict
from threadline.storage.base import ApiKeyRecord
from threadline.storage.sql import queries as q
from threadline.storage.sql.tables import api_keys, chat_completions, conversations, responses
from threadline.storage.usage import KeyLimits, KeyQuota


def create_api_key(conn: Connection, key: ApiKeyRecord) -> None:
    values = {
        "id": key.id,
        "tenant": key.tenant,
        "name": key.name,
        "key_hash": key.key_hash,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "default_store": key.default_store,
        **limit_values(key.limits),
    }
    try:
        conn.execute(insert(api_keys).values(values))
    except IntegrityError as exc:
        raise Conflict(
            f"API key '{key.name}' clashes with an existing key (same name, id or secret)"
        ) from exc


def find_api_key(conn: Connection, key_hash: str) -> ApiKeyRecord | None:
    row = conn.execute(q.LIVE_API_KEY, {"key_hash": key_hash}).first()
    return None if row is None else _api_key_record(row)


def list_api_keys(conn: Connection) -> list[ApiKeyRecord]:
    stmt = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
    return [_api_key_record(row) for row in conn.execute(stmt).all()]


def revoke_api_key(conn: Connection, key_id_or_name: str, now: float) -> bool:
    stmt = (
        update(api_keys)
        .where(
            or_(api_keys.c.id == key_id_or_name, api_keys.c.name == key_id_or_name),
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return conn.execute(stmt).rowcount > 0


def set_api_key_limits(conn: Connection, key_id_or_name: str, limits: KeyLimits) -> bool:
    stmt = (
        update(api_keys)
        .where(
            or_(api_keys.c.id == key_id_or_name, api_keys.c.name == key_id_or_name),
            api_keys.c.revoked_at.is_(None),
        )
        .values(limit_values(limits))
    )
    return conn.execute(stmt).rowcount > 0


def limit_values(limits: KeyLimits) -> dict[str, Any]:
    quota = limits.quota
    return {
        "expires_at": limits.expires_at,
        "models": None if limits.models is None else orjson.dumps(limits.models).decode(),
        "requests_per_minute": quota.requests_per_minute,
        "tokens_per_minute": quota.tokens_per_minute,
        "daily_budget": quota.daily_budget,
        "monthly_budget": quota.monthly_budget,
    }


def has_api_keys(conn: Connection) -> bool:
    return conn.scalar(q.ANY_API_KEY) is not None


def tenant_has_data(conn: Connection, tenant: str) -> bool:
    return any(
        conn.scalar(select(table.c.id).where(table.c.tenant == tenant).limit(1)) is not None
        for table in (responses, conversations, chat_completions)
    )


def forget_revoked_api_keys(conn: Connection) -> int:
    stmt = delete(api_keys).where(api_keys.c.revoked_at.is_not(None))
    return conn.execute(stmt).rowcount


def _api_key_record(row: Row[Any]) -> ApiKeyRecord:
    m = row._mapping
    return ApiKeyRecord(
        id=m["id"],
        tenant=m["tenant"],
        name=m["name"],
        key_hash=m["key_hash"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
        default_store=m["default_store"],
        limits=KeyLimits(
            expires_at=m["expires_at"],
            models=None if m["models"] is None else tuple(orjson.loads(m["models"])),
            quota=KeyQuota(
                requests_per_minute=m["requests_per_minute"],
                tokens_per_minute=m["tokens_per_minute"],
                daily_budget=m["daily_budget"],
                monthly_budget=m["monthly_budget"],
            ),
        ),
    )
