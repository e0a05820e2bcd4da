"""Ranking the index's rows for a query: cosine, BM25, and their fusion (pure functions over arrays).

A query is one matrix-vector product and a partial sort (np.argpartition), fused by reciprocal rank with a
BM25 ranking over the same rows (knowledge/bm25.py): hashed vectors alone miss that rare words matter more
than common ones, and exact terms (names, error codes) matter in a knowledge base. With a non-semantic
embedder (hashed words) the query vector's words are weighted by idf too, and a chunk must share a word
with the query.

Scores: a hit's `score` is what it was ranked by, so hits come in the order of their scores. Fused, it is
the reciprocal-rank score divided by its maximum (first in both rankings: 1.0); without BM25 it is the
cosine. `cosine` is always the cosine of query and chunk, and RAG_MIN_SCORE applies to it.
"""

from dataclasses import dataclass

import numpy as np

# Reciprocal rank fusion (Cormack et al. 2009): score = sum of weight / (RRF_K + rank). Tuned on
# bench/retrieval_quality.py: the hashed vectors carry less than BM25, so they get half the weight, and a
# small K lets a clear first place in either ranking count.
RRF_K = 10
VECTOR_WEIGHT, LEXICAL_WEIGHT = 0.5, 1.0


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    document_title: str
    score: float  # what the hit was ranked by: fused rank score in (0, 1], or the cosine without BM25
    cosine: float  # cosine similarity of the query and the chunk (RAG_MIN_SCORE applies to it)
    text: str
    page: int | None
    position: int


@dataclass(frozen=True)
class Ranked:
    rows: list[int]
    scores: list[float]
    cosines: list[float]


def query_weights(words: list[str], lexical) -> dict[str, float]:
    """Each query word's idf from the BM25 statistics (`lexical`: a BM25Rows), for an embedder that weights
    words: hashed vectors cannot tell rare words from common ones; the BM25 statistics can."""
    weights = {term: lexical.idf(term) for term in words if lexical.holds(term)}
    # A word no chunk holds counts like the query's rarest known word: as the rarest known word
    # on a big knowledge base, and neutral on a tiny one, where idf says little.
    unknown = max(weights.values(), default=1.0)
    weights.update({term: unknown for term in words if term not in weights})
    return weights


def rank(cosine: np.ndarray, lexical: np.ndarray | None, k: int, *, min_score: float | None,
         need_shared_word: bool) -> Ranked:
    """The k best rows. `cosine`: every row's cosine, -inf for rows not held; `lexical`: their BM25 scores
    for the query's words, or None to rank by cosine alone. need_shared_word: drop rows with no BM25 score."""
    if k <= 0 or not len(cosine):
        return Ranked([], [], [])
    # Filter before ranking, so that k eligible chunks come back when there are k.
    ranked = cosine if min_score is None else np.where(cosine >= min_score, cosine, -np.inf)
    if lexical is None:
        rows = [r for r in top(ranked, k) if np.isfinite(ranked[r])]
        return Ranked(rows, [float(cosine[r]) for r in rows], [float(cosine[r]) for r in rows])
    lexical[~np.isfinite(ranked)] = 0
    if need_shared_word:
        ranked = np.where(lexical > 0, ranked, -np.inf)
    fused = fuse(ranked, lexical, k)
    rows = [r for r in fused if np.isfinite(ranked[r])]
    best = VECTOR_WEIGHT / (RRF_K + 1) + LEXICAL_WEIGHT / (RRF_K + 1)
    return Ranked(rows, [fused[r] / best for r in rows], [float(cosine[r]) for r in rows])


def fuse(cosine: np.ndarray, lexical: np.ndarray, k: int) -> dict[int, float]:
    """{row: fused reciprocal-rank score} of the k best rows, best first."""
    depth = max(50, 4 * k)
    fused: dict[int, float] = {}
    for rank_, row in enumerate(r for r in top(cosine, depth) if np.isfinite(cosine[r])):
        fused[row] = fused.get(row, 0.0) + VECTOR_WEIGHT / (RRF_K + rank_ + 1)
    for rank_, row in enumerate(r for r in top(lexical, depth) if lexical[r] > 0):
        fused[row] = fused.get(row, 0.0) + LEXICAL_WEIGHT / (RRF_K + rank_ + 1)
    return {row: fused[row] for row in sorted(fused, key=lambda row: -fused[row])[:k]}


def top(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest scores, largest first: a partial sort, then a sort of k items."""
    if k >= len(scores):
        return [int(i) for i in np.argsort(-scores, kind="stable")]
    part = np.argpartition(-scores, k)[:k]
    return [int(i) for i in part[np.argsort(-scores[part], kind="stable")]]
