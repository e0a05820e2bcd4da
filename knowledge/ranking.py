"""Ranking the index's rows for a query: cosine, BM25, and their fusion (pure functions over arrays).

A query is one matrix-vector product and a partial sort (np.argpartition), fused with a BM25 ranking over
the same rows (knowledge/bm25.py): exact terms (names, error codes) matter in a knowledge base, and a small
embedding model misses some. Fusion: the best FUSION_DEPTH rows of each ranking are the candidates; each
score (cosine, BM25) is standardised over the candidates (z-score) and the two are added with weights
VECTOR_WEIGHT and 1 - VECTOR_WEIGHT. With a non-semantic embedder (hashed words) the query vector's words
are weighted by idf too, and a chunk must share a word with the query.

Scores: a hit's `score` is what it was ranked by, so hits come in the order of their scores. Fused, it is
that weighted sum of z-scores: how many standard deviations the chunk stands above the average candidate
(0), in both rankings together, plus, for the best fused hits, a bonus for the query's word pairs they hold
in the query's order (knowledge/word_pairs.py); without BM25 it is the cosine. `cosine` is always the
cosine of query and chunk, and RAG_MIN_SCORE applies to it.
"""

from dataclasses import dataclass

import numpy as np

from knowledge.topk import top

# Score fusion: a convex combination of standardised scores (Bruch et al. 2023 find it ahead of reciprocal rank
# fusion once its weight is tuned). VECTOR_WEIGHT was chosen on the dev half of every set of
# bench/retrieval_quality.py (mean nDCG@10 over question- and keyword-style sets) and checked on the other half.
# Unlike ranks, z-scores keep how far a chunk stands above the rest: a clear BM25 winner (a quoted phrase, an
# error code) survives a vague vector ranking, and the reverse.
VECTOR_WEIGHT = 0.5
FUSION_DEPTH = 100  # candidates taken from each ranking (at least 4 k)


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    document_title: str
    score: float  # what the hit was ranked by: the fused z-score (0: an average candidate), or the cosine
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
    return Ranked(rows, [round(fused[r], 4) for r in rows], [float(cosine[r]) for r in rows])


def fuse(cosine: np.ndarray, lexical: np.ndarray, k: int) -> dict[int, float]:
    """{row: VECTOR_WEIGHT * z(cosine) + (1 - VECTOR_WEIGHT) * z(BM25)} of the k best rows, best first; z-scores
    over the candidates (the best FUSION_DEPTH of each ranking)."""
    depth = max(FUSION_DEPTH, 4 * k)
    candidates = [r for r in top(cosine, depth) if np.isfinite(cosine[r])]
    candidates += [r for r in top(lexical, depth) if lexical[r] > 0 and np.isfinite(cosine[r])]
    rows = np.unique(np.asarray(candidates, dtype=np.int64))
    if not len(rows):
        return {}
    fused = VECTOR_WEIGHT * standardised(cosine[rows]) + (1 - VECTOR_WEIGHT) * standardised(lexical[rows])
    return {int(rows[i]): float(fused[i]) for i in np.argsort(-fused, kind="stable")[:k]}


def standardised(scores: np.ndarray) -> np.ndarray:
    """z-scores (0 where all scores are equal)."""
    scores = scores.astype(np.float64)
    spread = scores.std()
    return (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)
