"""Ranking chunks in the server process, for the backends with no index of their own to do it
(memory, MongoDB without Atlas): an exact vector ranking and BM25 over the candidate chunks."""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.storage.vector_stores import ChunkMatch

_WORD = re.compile(r"\w+")
_K1, _B = 1.2, 0.75  # BM25's usual constants


@dataclass(slots=True)
class RankableChunk:
    vector_store_id: str
    file_id: str
    ordinal: int
    text: str
    embedding: Sequence[float]


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def by_vector(
    chunks: Sequence[RankableChunk], vector: Sequence[float], limit: int
) -> list[ChunkMatch]:
    scored = (
        (sum(a * b for a, b in zip(chunk.embedding, vector, strict=False)), index)
        for index, chunk in enumerate(chunks)
        if len(chunk.embedding) == len(vector)
    )
    best = heapq.nlargest(limit, scored)
    return [_match(chunks[index], score) for score, index in best]


def by_keywords(
    chunks: Sequence[RankableChunk], keywords: Sequence[str], limit: int
) -> list[ChunkMatch]:
    terms = {word for keyword in keywords for word in words(keyword)}
    if not terms or not chunks:
        return []
    bags = [Counter(words(chunk.text)) for chunk in chunks]
    lengths = [sum(bag.values()) for bag in bags]
    average = sum(lengths) / len(lengths) or 1.0
    frequency = {term: sum(1 for bag in bags if term in bag) for term in terms}
    scored = []
    for index, bag in enumerate(bags):
        score = 0.0
        for term in terms:
            count = bag.get(term, 0)
            if not count:
                continue
            idf = math.log(1 + (len(bags) - frequency[term] + 0.5) / (frequency[term] + 0.5))
            norm = count + _K1 * (1 - _B + _B * lengths[index] / average)
            score += idf * count * (_K1 + 1) / norm
        if score > 0:
            scored.append((score, index))
    best = heapq.nlargest(limit, scored)
    return [_match(chunks[index], score) for score, index in best]


def _match(chunk: RankableChunk, score: float) -> ChunkMatch:
    return ChunkMatch(chunk.vector_store_id, chunk.file_id, chunk.ordinal, chunk.text, score)
