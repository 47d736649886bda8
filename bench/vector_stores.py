"""Benchmark 9: vector stores. Three measurements:

- **Retrieval quality**: the question/answer set of bench/retrieval_set.py, ingested into a
  SQLite store through the ingestion pipeline and searched through the engine's search,
  recall@5 (is the answering document among the first five results?) for the hybrid ranking
  beside vector-only and keyword-only (the same search with one ranking's weight at 0). The
  embedding is the fake upstream's `fake-trigram-512` (hashed words and character trigrams):
  lexical, not a neural model's meaning, so this measures the pipeline and the fusion, not
  what a real embedding model would add.
- **Ingestion throughput**: text files of about 4,000 tokens cut into 800-token chunks with 400
  of overlap, embedded through the fake upstream's `/v1/embeddings` (256 dimensions), stored in
  SQLite; chunks per second from the first file added to the last one completed.
- **Search latency** at 100,000 chunks (10,000 in a quick run) of 256-dimension vectors, on
  SQLite and PostgreSQL (with `cube`, and without it: the unnested dot product), one store
  call ranking by vector and by keywords, p50 and p99 of 50 queries.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from bench.context import BenchContext
from bench.procs import Service, start_fake
from bench.results import Figure, not_run
from bench.retrieval_set import DOCUMENTS, QUESTIONS
from threadline.engine.vector_stores.embedding import Embedder, unit
from threadline.engine.vector_stores.ingestion import Ingestion
from threadline.engine.vector_stores.search import SearchRequest, VectorSearch
from threadline.protocol.vector_stores import HybridSearch, RankingOptions
from threadline.providers.kinds import ProviderConfig, build_provider
from threadline.providers.registry import ProviderRegistry
from threadline.storage.base import Store
from threadline.storage.factory import sqlalchemy_url
from threadline.storage.files import FileRecord
from threadline.storage.local_files import LocalFileStore
from threadline.storage.sql import SqlStore
from threadline.storage.vector_stores import (
    Chunk,
    ChunkQuery,
    VectorFileRecord,
    VectorStoreRecord,
)

NAME = "9. Vector stores (retrieval quality, ingestion, search)"
TENANT = "bench"
STATIC = {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}
DIMENSIONS = 256
QUERIES = 50
_WORDS = [f"w{n}" for n in range(5000)]


def _registry(fake: Service) -> ProviderRegistry:
    provider = build_provider(
        "openai-chat",
        ProviderConfig(name="fake", base_url=f"{fake.url}/v1", api_key="bench", models=[]),
    )
    return ProviderRegistry({"fake": provider}, "fake")


async def _ingest(
    store: Store,
    files: LocalFileStore,
    embedder: Embedder,
    model: str,
    named: list[tuple[str, str]],
) -> tuple[str, int, float]:
    """A store of `named` (filename, text) files, ingested; its id, chunks and seconds."""
    now = time.time()
    record = VectorStoreRecord(
        id=f"vs_{model}_{len(named)}",
        tenant=TENANT,
        name=model,
        created_at=now,
        last_active_at=now,
        embedding_model=model,
    )
    vector_files = []
    for number, (filename, text) in enumerate(named):
        data = text.encode()
        file_id = f"file-{number:06d}{len(named)}"
        await files.save(
            FileRecord(file_id, TENANT, filename, len(data), now, "assistants", "text/plain"), data
        )
        vector_files.append(
            VectorFileRecord(record.id, file_id, TENANT, filename, now + number * 1e-6, STATIC)
        )
    worker = Ingestion(
        store, files, embedder, owner="bench", concurrency=2, poll_interval=1, lease_seconds=60
    )
    started = time.perf_counter()
    await store.create_vector_store(record, vector_files)
    while await worker.ingest_due():
        pass
    seconds = time.perf_counter() - started
    view = await store.get_vector_store(TENANT, record.id)
    assert view is not None and view.counts.completed == len(named), view
    chunks = 0
    for vector_file in vector_files:
        texts = await store.vector_file_chunks(TENANT, record.id, vector_file.file_id)
        chunks += len(texts or [])
    return record.id, chunks, seconds


async def _recall(
    search: VectorSearch, store: Store, store_id: str, weights: tuple[float, float]
) -> float:
    stores = await search.stores(TENANT, [store_id], "vector_store_id")
    found = 0
    for question, answer in QUESTIONS:
        outcome = await search.search(
            SearchRequest(
                tenant=TENANT,
                vector_store_ids=[store_id],
                queries=[question],
                max_results=5,
                ranking=RankingOptions(
                    hybrid_search=HybridSearch(embedding_weight=weights[0], text_weight=weights[1])
                ),
            ),
            stores,
        )
        found += answer in {hit.filename for hit in outcome.hits}
    return found / len(QUESTIONS)


def _random_chunks(rng: random.Random, count: int) -> list[Chunk]:
    return [
        Chunk(
            n,
            " ".join(rng.choice(_WORDS) for _ in range(40)),
            40,
            unit([rng.gauss(0, 1) for _ in range(DIMENSIONS)]),
        )
        for n in range(count)
    ]


async def _populate(store: Store, chunks: int, rng: random.Random) -> str:
    """A store of `chunks` random chunks, 100 a file, written as ingestion writes them."""
    now = time.time()
    record = VectorStoreRecord("vs_latency", TENANT, "latency", now, now, "fake-embed-256")
    files = [
        VectorFileRecord(record.id, f"file-{n:06d}", TENANT, f"f{n}.txt", now + n * 1e-6, STATIC)
        for n in range(chunks // 100)
    ]
    await store.create_vector_store(record, files)
    while tasks := await store.take_ingestion("bench", time.time(), time.time() + 600, 50):
        for task in tasks:
            await store.finish_ingestion(task, "bench", _random_chunks(rng, 100), 0)
    return record.id


async def _latency(store: Store, store_id: str, rng: random.Random) -> tuple[float, float]:
    timings = []
    for _ in range(QUERIES):
        query = ChunkQuery(
            tenant=TENANT,
            vector_store_ids=[store_id],
            vector=unit([rng.gauss(0, 1) for _ in range(DIMENSIONS)]),
            keywords=[" ".join(rng.choice(_WORDS) for _ in range(3))],
            limit=50,
        )
        started = time.perf_counter()
        await store.search_chunks(query)
        timings.append(time.perf_counter() - started)
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(len(timings) * 0.99) - 1] * 1000


async def run(ctx: BenchContext) -> list[Figure]:
    figures: list[Figure] = []
    logs = ctx.workdir / "logs"
    logs.mkdir(exist_ok=True)
    with start_fake(ctx.placement, logs) as fake:
        registry = _registry(fake)
        embedder = Embedder(registry)
        store = SqlStore(f"sqlite:///{ctx.database('vectors')}")
        await store.migrate()
        files = LocalFileStore(Path(ctx.workdir) / "files")
        try:
            quality_id, _, _ = await _ingest(
                store, files, embedder, "fake-trigram-512", list(DOCUMENTS)
            )
            search = VectorSearch(store, embedder)
            recalls = {
                label: await _recall(search, store, quality_id, weights)
                for label, weights in (
                    ("hybrid", (1.0, 1.0)),
                    ("vector", (1.0, 0.0)),
                    ("keyword", (0.0, 1.0)),
                )
            }
            figures.append(
                Figure(
                    "vectors.recall_at_5",
                    NAME,
                    f"recall@5, hybrid ({len(QUESTIONS)} questions, {len(DOCUMENTS)} documents)",
                    recalls["hybrid"] * 100,
                    "%",
                    baseline=max(recalls["vector"], recalls["keyword"]) * 100,
                    baseline_label="the better single ranking",
                    note=f"vector-only {recalls['vector']:.0%}, keyword-only "
                    f"{recalls['keyword']:.0%} (embedding: hashed trigrams, fake-trigram-512)",
                )
            )
            rng = random.Random(9)
            count = ctx.count(100, 10)
            texts = [
                (f"doc{n}.txt", " ".join(rng.choice(_WORDS) for _ in range(3000)))
                for n in range(count)
            ]
            _, chunks, seconds = await _ingest(store, files, embedder, "fake-embed-256", texts)
            figures.append(
                Figure(
                    "vectors.ingestion",
                    NAME,
                    f"ingestion, chunks per second ({count} files, {chunks:,} chunks, SQLite)",
                    chunks / seconds,
                    "/s",
                    note=f"{seconds:.1f} s: extract, chunk, embed (256 dims, fake upstream), store",
                )
            )
        finally:
            await store.close()
            await registry.aclose()
    total = ctx.count(100_000, 10_000)
    postgres = sqlalchemy_url(ctx.postgres_url) if ctx.postgres_url else None
    backends: list[tuple[str, str | None, bool]] = [
        ("SQLite", f"sqlite:///{ctx.database('latency')}", False),
        ("PostgreSQL", postgres, True),
        ("PostgreSQL without cube", postgres, False),
    ]
    for label, url, cube in backends:
        key = "vectors.search_" + label.lower().replace(" ", "_")
        metric = f"search p50 at {total:,} chunks, {label}"
        if url is None:
            figures.append(not_run(key, NAME, metric, "ms", "no PostgreSQL given"))
            continue
        latency_store = SqlStore(url)
        await latency_store.migrate()
        if label.startswith("PostgreSQL"):
            latency_store.cube_parts = cube
        try:
            rng = random.Random(7)
            store_id = await _populate(latency_store, total, rng)
            if label == "PostgreSQL":
                # What autovacuum does within a minute of a bulk load: without statistics the
                # planner filters the store's chunks instead of reading the keyword index.
                await latency_store.write(lambda c: c.exec_driver_sql("ANALYZE vector_chunks"))
            p50, p99 = await _latency(latency_store, store_id, rng)
            await latency_store.delete_vector_store(TENANT, store_id)
        finally:
            await latency_store.close()
        figures.append(
            Figure(
                key,
                NAME,
                metric,
                p50,
                "ms",
                note=f"p99 {p99:.0f} ms; {DIMENSIONS} dims, exact; both rankings in one call",
            )
        )
    return figures
