"""Vector stores, their files and batches as the API returns them."""

from __future__ import annotations

from typing import Any

from threadline.engine.vector_stores.search import SearchOutcome
from threadline.storage.vector_stores import (
    FileBatchView,
    FileCounts,
    VectorFileRecord,
    VectorStoreView,
)


def _counts(counts: FileCounts) -> dict[str, int]:
    return {
        "in_progress": counts.in_progress,
        "completed": counts.completed,
        "failed": counts.failed,
        "cancelled": counts.cancelled,
        "total": counts.total,
    }


def vector_store_object(view: VectorStoreView, now: float) -> dict[str, Any]:
    record = view.record
    expires_at = record.expires_at()
    if expires_at is not None and expires_at <= now:
        status = "expired"
    elif view.counts.in_progress:
        status = "in_progress"
    else:
        status = "completed"
    shown: dict[str, Any] = {
        "id": record.id,
        "object": "vector_store",
        "created_at": int(record.created_at),
        "name": record.name or "",  # the spec's `name` is a string, never null
        "description": record.description,
        "usage_bytes": view.usage_bytes,
        "file_counts": _counts(view.counts),
        "status": status,
        "expires_at": None if expires_at is None else int(expires_at),
        "last_active_at": int(record.last_active_at),
        "metadata": dict(record.metadata),
    }
    if record.expires_after_days is not None:  # absent, not null, as the spec types it
        shown["expires_after"] = {"anchor": "last_active_at", "days": record.expires_after_days}
    return shown


def vector_file_object(record: VectorFileRecord) -> dict[str, Any]:
    return {
        "id": record.file_id,
        "object": "vector_store.file",
        "usage_bytes": record.usage_bytes,
        "created_at": int(record.created_at),
        "vector_store_id": record.vector_store_id,
        "status": record.status,
        "last_error": record.last_error,
        "chunking_strategy": {"type": "static", "static": dict(record.chunking)},
        "attributes": record.attributes,
    }


def file_batch_object(view: FileBatchView) -> dict[str, Any]:
    counts = view.counts
    if view.record.cancelled:
        status = "cancelled"
    elif counts.in_progress:
        status = "in_progress"
    elif counts.total and counts.failed == counts.total:
        status = "failed"
    else:
        status = "completed"
    return {
        "id": view.record.id,
        "object": "vector_store.files_batch",
        "created_at": int(view.record.created_at),
        "vector_store_id": view.record.vector_store_id,
        "status": status,
        "file_counts": _counts(counts),
    }


def search_page(outcome: SearchOutcome) -> dict[str, Any]:
    return {
        "object": "vector_store.search_results.page",
        "search_query": outcome.queries,
        "data": [
            {
                "file_id": hit.file_id,
                "filename": hit.filename,
                "score": hit.score,
                "attributes": hit.attributes,
                "content": [{"type": "text", "text": hit.text}],
            }
            for hit in outcome.hits
        ],
        "has_more": False,
        "next_page": None,
    }
