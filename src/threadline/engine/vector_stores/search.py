"""Hybrid search over vector stores, for `POST /v1/vector_stores/{id}/search` and the
file_search tool alike.

Each query is embedded with each store's embedding model; the store ranks its chunks by vector
similarity and by keywords (storage/vector_stores.py), and the two rankings are fused here by
weighted reciprocal rank fusion (RRF, k = 60). The fused score is scaled so that a chunk ranked
first by both rankings scores 1 and one in neither scores 0: scores lie in [0, 1], and
`score_threshold` cuts on them. With several queries a chunk keeps its best score. There is
no learned re-ranker: every `ranker` value ranks by this fusion; `ranker: "none"` only skips
the keyword ranking's share when `hybrid_search` is not given (vector order, as the name
implies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.vector_stores.embedding import Embedder
from threadline.engine.vector_stores.filters import passes
from threadline.errors import InvalidRequest, NotFound
from threadline.protocol.vector_stores import Filter, RankingOptions
from threadline.storage.base import Store
from threadline.storage.vector_stores import ChunkMatch, ChunkQuery, VectorStoreRecord

RRF_K = 60
TOUCH_SECONDS = 60.0
"""A search marks its stores active (`last_active_at`, which expiry counts from) when their
mark is older than this: a write per minute and store, not one per search."""
CANDIDATES = 50
"""Chunks each ranking contributes per query (before fusion)."""
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "should",
        "tell",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "about",
        "find",
        "show",
        "give",
    ]
)
_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class SearchRequest:
    tenant: str
    vector_store_ids: list[str]
    queries: list[str]
    max_results: int
    filters: Filter | None = None
    ranking: RankingOptions | None = None
    rewrite: bool = False
    api_key: str | None = None


@dataclass(slots=True)
class SearchHit:
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any] | None
    text: str


@dataclass(slots=True)
class SearchOutcome:
    queries: list[str]
    hits: list[SearchHit]


def rewritten(query: str) -> str:
    """A question as a search: its words without the ones that carry no topic."""
    words = [w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS]
    return " ".join(words) or query


class VectorSearch:
    def __init__(self, store: Store, embedder: Embedder, *, clock: Clock = system_clock) -> None:
        self._store = store
        self._embedder = embedder
        self._clock = clock

    async def stores(self, tenant: str, ids: list[str], param: str) -> list[VectorStoreRecord]:
        """The tenant's stores named (a 404 naming the first missing, a 400 for an expired)."""
        now = self._clock()
        records = []
        for vector_store_id in dict.fromkeys(ids):
            view = await self._store.get_vector_store(tenant, vector_store_id)
            if view is None:
                raise NotFound(f"No vector store found with id '{vector_store_id}'.", param=param)
            expires_at = view.record.expires_at()
            if expires_at is not None and expires_at <= now:
                raise InvalidRequest(f"Vector store '{vector_store_id}' has expired.", param=param)
            records.append(view.record)
        return records

    async def search(
        self, request: SearchRequest, stores: list[VectorStoreRecord]
    ) -> SearchOutcome:
        queries = [rewritten(q) if request.rewrite else q for q in request.queries]
        ids = [s.id for s in stores]
        files = {
            (f.vector_store_id, f.file_id): f
            for f in await self._store.searchable_files(request.tenant, ids)
        }
        allowed = None
        if request.filters is not None:
            allowed = sorted(
                {k[1] for k, f in files.items() if passes(request.filters, f.attributes)}
            )
        weights = _weights(request.ranking)
        best: dict[tuple[str, str, int], tuple[float, ChunkMatch]] = {}
        by_model: dict[str, list[str]] = {}
        for store in stores:
            by_model.setdefault(store.embedding_model, []).append(store.id)
        for model, group in by_model.items():
            vectors = await self._embedder.embed(
                model, queries, tenant=request.tenant, api_key=request.api_key
            )
            for query, vector in zip(queries, vectors, strict=True):
                matches = await self._store.search_chunks(
                    ChunkQuery(
                        tenant=request.tenant,
                        vector_store_ids=group,
                        vector=vector,
                        keywords=[query],
                        limit=max(CANDIDATES, request.max_results),
                        file_ids=allowed,
                    )
                )
                for key, score, match in _fused(matches.by_vector, matches.by_keyword, weights):
                    if key not in best or best[key][0] < score:
                        best[key] = (score, match)
        threshold = (request.ranking.score_threshold if request.ranking else None) or 0.0
        ranked = sorted(
            best.values(), key=lambda pair: (-pair[0], pair[1].file_id, pair[1].ordinal)
        )
        hits: list[SearchHit] = []
        for score, match in ranked:
            if score < threshold or len(hits) == request.max_results:
                continue
            record = files.get((match.vector_store_id, match.file_id))
            if record is None:  # deleted since the ranking was read
                continue
            hits.append(
                SearchHit(
                    match.file_id, record.filename, round(score, 6), record.attributes, match.text
                )
            )
        now = self._clock()
        stale = [s.id for s in stores if s.last_active_at < now - TOUCH_SECONDS]
        if stale:
            await self._store.touch_vector_stores(request.tenant, stale, now)
        return SearchOutcome(queries, hits)


def _weights(ranking: RankingOptions | None) -> tuple[float, float]:
    if ranking is not None and ranking.hybrid_search is not None:
        weights = ranking.hybrid_search.embedding_weight, ranking.hybrid_search.text_weight
        if sum(weights) <= 0:
            raise InvalidRequest(
                "'hybrid_search' needs a positive weight.", param="ranking_options.hybrid_search"
            )
        return weights
    if ranking is not None and ranking.ranker == "none":
        return 1.0, 0.0
    return 1.0, 1.0


def _fused(
    by_vector: list[ChunkMatch], by_keyword: list[ChunkMatch], weights: tuple[float, float]
) -> list[tuple[tuple[str, str, int], float, ChunkMatch]]:
    vector_weight, text_weight = weights
    top = (vector_weight + text_weight) / (RRF_K + 1)
    scores: dict[tuple[str, str, int], float] = {}
    chunks: dict[tuple[str, str, int], ChunkMatch] = {}
    for weight, ranking in ((vector_weight, by_vector), (text_weight, by_keyword)):
        if not weight:
            continue
        for rank, match in enumerate(ranking, 1):
            key = (match.vector_store_id, match.file_id, match.ordinal)
            scores[key] = scores.get(key, 0.0) + weight / (RRF_K + rank)
            chunks.setdefault(key, match)
    return [(key, min(1.0, score / top), chunks[key]) for key, score in scores.items()]
