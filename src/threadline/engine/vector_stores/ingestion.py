"""Ingestion of vector store files, in the background of every process: take a file from the
store (leased), extract its text, cut it into chunks, embed them, and store them with the
file's completion in one transaction.

A file ends `completed`, or `failed` with `last_error` (`unsupported_file`, `invalid_file`,
`server_error`); an ingestion cut short by a crash or a restart leaves its file leased, and any
process takes it again once the lease lapses. A file cancelled or deleted while it is ingested
keeps nothing (`finish_ingestion` writes only while the file is still this process's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from threadline.engine.clock import Clock, system_clock
from threadline.engine.polling import PollingLoop
from threadline.engine.vector_stores.chunking import chunk_text
from threadline.engine.vector_stores.embedding import Embedder
from threadline.engine.vector_stores.extraction import ExtractionFailed, extract_text
from threadline.errors import ThreadlineError
from threadline.storage.base import Store
from threadline.storage.files import FileStore
from threadline.storage.vector_stores import Chunk, IngestionTask, vector_store_usage

log = logging.getLogger(__name__)


class Ingestion:
    def __init__(
        self,
        store: Store,
        files: FileStore,
        embedder: Embedder,
        *,
        owner: str,
        concurrency: int,
        poll_interval: float,
        lease_seconds: float,
        clock: Clock = system_clock,
    ) -> None:
        self._store = store
        self._files = files
        self._embedder = embedder
        self._owner = owner
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._clock = clock
        self._loop = PollingLoop(self._ingest_batch, interval=poll_interval, what="ingest files")

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        """Files were added here: take them now rather than at the next poll."""
        self._loop.wake()

    async def stop(self) -> None:
        """Stop ingesting; a file cut short stays leased and is taken again once that lapses."""
        await self._loop.stop()

    async def _ingest_batch(self) -> bool:
        return await self.ingest_due() > 0

    async def ingest_due(self) -> int:
        """Ingest the files due now (up to the concurrency, together); how many were taken."""
        now = self._clock()
        tasks = await self._store.take_ingestion(
            self._owner, now, now + self._lease, self._concurrency
        )
        if not tasks:
            return 0
        renewing = asyncio.create_task(self._renew_forever())
        try:
            await asyncio.gather(*(self._ingest(task) for task in tasks))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        return len(tasks)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self._store.renew_ingestion(self._owner, self._clock() + self._lease)
            except Exception:
                log.warning("ingestion: could not renew leases", exc_info=True)

    async def _ingest(self, task: IngestionTask) -> None:
        try:
            chunks = await self._chunks(task)
        except ExtractionFailed as exc:
            await self._fail(task, exc.code, exc.message)
            return
        except ThreadlineError as exc:  # the embedding upstream, after its retries
            await self._fail(
                task,
                "server_error",
                f"Embedding with '{task.embedding_model}' failed: {exc.message} (the model "
                "vector stores embed with is THREADLINE_VECTOR_STORE_EMBEDDING_MODEL).",
            )
            return
        except Exception as exc:
            log.warning(
                "ingestion: file %s failed (%s)", task.file_id, type(exc).__name__, exc_info=True
            )
            await self._fail(task, "server_error", "The file could not be processed.")
            return
        done = await self._store.finish_ingestion(
            task, self._owner, chunks, vector_store_usage(chunks)
        )
        if not done:
            log.info("ingestion: file %s was cancelled or removed meanwhile", task.file_id)

    async def _chunks(self, task: IngestionTask) -> list[Chunk]:
        now = self._clock()
        record = await self._files.get(task.tenant, task.file_id, now)
        data = await self._files.read(task.tenant, task.file_id, now) if record else None
        if record is None or data is None:
            raise ExtractionFailed("invalid_file", "The file was deleted before it was read.")
        text = await asyncio.to_thread(extract_text, data, record.media_type, record.filename)
        pieces = await asyncio.to_thread(chunk_text, text, task.chunking)
        if not pieces:
            return []
        vectors = await self._embedder.embed(
            task.embedding_model,
            [p.text for p in pieces],
            tenant=task.tenant,
            tokens=[p.tokens for p in pieces],
        )
        return [
            Chunk(ordinal, piece.text, piece.tokens, vector)
            for ordinal, (piece, vector) in enumerate(zip(pieces, vectors, strict=True))
        ]

    async def _fail(self, task: IngestionTask, code: str, message: str) -> None:
        await self._store.fail_ingestion(task, self._owner, {"code": code, "message": message})
