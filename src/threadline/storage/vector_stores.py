"""The vector store contract: stores of files cut into chunks, each chunk with its embedding,
searched by meaning and by words (`/v1/vector_stores`, the `file_search` tool).

Kept in the database the operator already runs, beside the conversations:

- Every read and write is scoped to a tenant; another tenant's store, file or batch is
  indistinguishable from one that does not exist (None / False, never an exception).
- A file in a store is ingested by whichever process takes it: `take_ingestion` leases it
  (`owner`, `lease_until`), `finish_ingestion` writes its chunks and marks it `completed` in one
  transaction, only while the lease is still the caller's and the file still `in_progress`; so a
  crash mid-way leaves a file that another process takes again when the lease lapses, and a
  file cancelled or deleted meanwhile keeps no chunks.
- Chunks exist only for `completed` files: a search never sees half a file.
- `search_chunks` returns the best chunks by vector similarity and the best by keyword score,
  each list in its own order; fusing them is the engine's (engine/vector_stores/search.py).
- Embeddings are unit length (the engine normalises them), so a dot product is the cosine.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # base.py's Store is built on this module
    from threadline.storage.base import Order

FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]
FILE_STATUSES: tuple[FileStatus, ...] = ("in_progress", "completed", "failed", "cancelled")


@dataclass(slots=True)
class VectorStoreRecord:
    id: str
    tenant: str
    name: str | None
    created_at: float
    last_active_at: float
    embedding_model: str
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    expires_after_days: int | None = None
    """`expires_after` (its anchor is always `last_active_at`)."""

    def expires_at(self) -> float | None:
        if self.expires_after_days is None:
            return None
        return self.last_active_at + self.expires_after_days * 86_400


@dataclass(slots=True)
class FileCounts:
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled

    def add(self, status: str, count: int = 1) -> None:
        if status in FILE_STATUSES:
            setattr(self, status, getattr(self, status) + count)


@dataclass(slots=True)
class VectorStoreView:
    """A store with what its files add up to."""

    record: VectorStoreRecord
    counts: FileCounts
    usage_bytes: int


@dataclass(slots=True)
class VectorStorePage:
    stores: list[VectorStoreView]
    has_more: bool


@dataclass(slots=True)
class VectorFileRecord:
    vector_store_id: str
    file_id: str
    tenant: str
    filename: str
    created_at: float
    chunking: dict[str, Any]
    """`{"max_chunk_size_tokens", "chunk_overlap_tokens"}`: the static strategy it is cut by."""
    attributes: dict[str, Any] | None = None
    status: FileStatus = "in_progress"
    usage_bytes: int = 0
    last_error: dict[str, str] | None = None
    batch_id: str | None = None


@dataclass(slots=True)
class VectorFilePage:
    files: list[VectorFileRecord]
    has_more: bool


@dataclass(slots=True)
class FileBatchRecord:
    id: str
    vector_store_id: str
    tenant: str
    created_at: float
    cancelled: bool = False


@dataclass(slots=True)
class FileBatchView:
    record: FileBatchRecord
    counts: FileCounts


@dataclass(slots=True)
class IngestionTask:
    """A file taken for ingestion: what the ingesting process needs to do it."""

    tenant: str
    vector_store_id: str
    file_id: str
    chunking: dict[str, Any]
    embedding_model: str


@dataclass(slots=True)
class Chunk:
    ordinal: int
    text: str
    tokens: int
    embedding: list[float]


@dataclass(slots=True)
class ChunkQuery:
    tenant: str
    vector_store_ids: list[str]
    vector: list[float]
    keywords: list[str]
    """The query's words, as the keyword index should look for any of them."""
    limit: int
    """How many chunks each ranking returns."""
    file_ids: list[str] | None = None
    """Only these files (a filter's verdict); None: every file."""


@dataclass(slots=True)
class ChunkMatch:
    vector_store_id: str
    file_id: str
    ordinal: int
    text: str
    score: float
    """Cosine similarity (vector ranking), or the backend's keyword score (higher is better)."""


@dataclass(slots=True)
class ChunkMatches:
    by_vector: list[ChunkMatch]
    by_keyword: list[ChunkMatch]


class VectorStores(abc.ABC):
    """The part of `Store` that keeps vector stores (see the module docstring)."""

    @abc.abstractmethod
    async def create_vector_store(
        self,
        record: VectorStoreRecord,
        files: list[VectorFileRecord],
        batch: FileBatchRecord | None = None,
    ) -> None: ...

    @abc.abstractmethod
    async def get_vector_store(
        self, tenant: str, vector_store_id: str
    ) -> VectorStoreView | None: ...

    @abc.abstractmethod
    async def list_vector_stores(
        self, tenant: str, *, after: str | None, before: str | None, limit: int, order: Order
    ) -> VectorStorePage:
        """By `created_at` (ties by id); `after`/`before` are store ids."""

    @abc.abstractmethod
    async def update_vector_store(self, record: VectorStoreRecord) -> bool:
        """Replace the store's name, description, metadata, expiry and `last_active_at`."""

    @abc.abstractmethod
    async def touch_vector_stores(self, tenant: str, ids: list[str], now: float) -> None:
        """Mark the stores active at `now` (a search used them)."""

    @abc.abstractmethod
    async def delete_vector_store(self, tenant: str, vector_store_id: str) -> bool:
        """The store, its files, batches and chunks."""

    @abc.abstractmethod
    async def delete_expired_vector_stores(self, now: float) -> int:
        """Delete (as `delete_vector_store`) every store whose `expires_at` has passed."""

    @abc.abstractmethod
    async def add_vector_files(
        self, files: list[VectorFileRecord], batch: FileBatchRecord | None = None
    ) -> bool:
        """Attach files to their store (all of one store), `in_progress`. A file already in the
        store starts again: its chunks go, its attributes and strategy are replaced. False when
        the store does not exist for the tenant."""

    @abc.abstractmethod
    async def get_vector_file(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> VectorFileRecord | None: ...

    @abc.abstractmethod
    async def list_vector_files(
        self,
        tenant: str,
        vector_store_id: str,
        *,
        status: FileStatus | None,
        batch_id: str | None,
        after: str | None,
        before: str | None,
        limit: int,
        order: Order,
    ) -> VectorFilePage:
        """By `created_at` (ties by file id); `after`/`before` are file ids."""

    @abc.abstractmethod
    async def searchable_files(
        self, tenant: str, vector_store_ids: list[str]
    ) -> list[VectorFileRecord]:
        """The `completed` files of the stores (for filters and filenames)."""

    @abc.abstractmethod
    async def update_vector_file_attributes(
        self, tenant: str, vector_store_id: str, file_id: str, attributes: dict[str, Any] | None
    ) -> VectorFileRecord | None: ...

    @abc.abstractmethod
    async def delete_vector_file(self, tenant: str, vector_store_id: str, file_id: str) -> bool:
        """The file and its chunks (the uploaded file itself stays)."""

    @abc.abstractmethod
    async def vector_file_chunks(
        self, tenant: str, vector_store_id: str, file_id: str
    ) -> list[str] | None:
        """The texts of a file's chunks in order (None when the file is not in the store)."""

    @abc.abstractmethod
    async def get_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None: ...

    @abc.abstractmethod
    async def cancel_file_batch(
        self, tenant: str, vector_store_id: str, batch_id: str
    ) -> FileBatchView | None:
        """Mark the batch cancelled and its files still `in_progress` `cancelled`."""

    @abc.abstractmethod
    async def take_ingestion(
        self, owner: str, now: float, lease_until: float, limit: int
    ) -> list[IngestionTask]:
        """Lease up to `limit` `in_progress` files nobody holds (or whose lease lapsed)."""

    @abc.abstractmethod
    async def renew_ingestion(self, owner: str, lease_until: float) -> int: ...

    @abc.abstractmethod
    async def finish_ingestion(
        self, task: IngestionTask, owner: str, chunks: list[Chunk], usage_bytes: int
    ) -> bool:
        """Store the chunks and mark the file `completed`, if it is still `in_progress` and
        leased to `owner`; False (nothing written) otherwise."""

    @abc.abstractmethod
    async def fail_ingestion(self, task: IngestionTask, owner: str, error: dict[str, str]) -> bool:
        """Mark the file `failed` with `error`, under the same condition."""

    @abc.abstractmethod
    async def search_chunks(self, query: ChunkQuery) -> ChunkMatches: ...


def vector_store_usage(chunks: list[Chunk]) -> int:
    """The bytes a file's chunks take: their text and their float32 vectors."""
    return sum(len(c.text.encode()) + 4 * len(c.embedding) for c in chunks)


def page_of(
    records: list[Any],
    key: Any,
    ident: Any,
    *,
    after: str | None,
    before: str | None,
    limit: int,
    order: Order,
) -> tuple[list[Any], bool]:
    """`records` sorted by `key` in `order`, cut after the record whose `ident` is `after` and
    before the one that is `before` (a cursor that names no record leaves nothing), the first
    `limit` of them, and whether more follow."""
    ordered = sorted(records, key=key, reverse=order == "desc")
    idents = [ident(record) for record in ordered]
    if after is not None:
        ordered = ordered[idents.index(after) + 1 :] if after in idents else []
        idents = [ident(record) for record in ordered]
    if before is not None:
        ordered = ordered[: idents.index(before)] if before in idents else []
    return ordered[:limit], len(ordered) > limit
