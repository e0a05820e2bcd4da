"""Words as retrieval sees them, and a BM25 index over rows that can grow and shrink in place.

`terms()` is shared by the local embedder and the BM25 index so both see the same words: lower case,
stop words dropped, a light suffix stemmer so "indexes", "indexed" and "indexing" meet.

`BM25Rows` keeps term frequencies in a compressed sparse column matrix (one column per term: a query
reads only its own terms' postings) plus a small "tail" matrix of rows added since the last build, so
adding one document costs a rebuild of the tail only. Removed rows are masked and dropped at the next
full build. numpy + scipy only.
"""

import math
import re
from functools import lru_cache

import numpy as np
from scipy import sparse

_WORD = re.compile(r"\w+", re.UNICODE)

STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should so
some such than that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves may might must shall us s t
""".split())

# (suffix, replacement), longest first; applied once, only if a stem of 3+ characters remains.
_SUFFIXES = [
    ("ational", "ate"), ("ization", "ize"), ("fulness", "ful"), ("iveness", "ive"), ("ousness", "ous"),
    ("ations", "ate"), ("ation", "ate"), ("ingly", ""), ("ments", ""), ("ment", ""), ("ness", ""),
    ("ings", ""), ("ing", ""), ("ies", "y"), ("ied", "y"), ("edly", ""), ("ed", ""), ("ly", ""),
    ("es", ""), ("s", ""),
]


@lru_cache(maxsize=200_000)  # words are Zipf-distributed: most lookups are repeats
def stem(word: str) -> str:
    if len(word) <= 4 or word.endswith("ss"):
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + replacement
    return word


def terms(text: str) -> list[str]:
    """The searchable words of `text`, in order."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1]


class BM25Rows:
    """BM25 (Lucene's idf, k1=1.2, b=0.75) over numbered rows; rows are added and removed in place."""

    k1 = 1.2
    b = 0.75

    def __init__(self):
        self.vocabulary: dict[str, int] = {}
        self._row_terms: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # row -> (term ids, counts)
        self._lengths = np.zeros(0, dtype=np.float32)
        self._df = np.zeros(0, dtype=np.int64)  # documents (rows) per term, live rows only
        self._main = sparse.csc_matrix((0, 0), dtype=np.float32)
        self._main_rows = 0  # rows [0, _main_rows) are in _main
        self._tail_rows: list[int] = []
        self._tail: sparse.csc_matrix | None = None
        self._live_count = 0
        self._total_length = 0.0

    def add(self, row: int, text: str) -> None:
        ids, counts = self._encode(terms(text))
        self._row_terms[row] = (ids, counts)
        if row >= len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros(max(1024, row + 1), np.float32)])
        self._lengths[row] = counts.sum()
        self._df[ids] += 1
        self._live_count += 1
        self._total_length += float(counts.sum())
        self._tail_rows.append(row)
        self._tail = None

    def remove(self, row: int) -> None:
        ids, counts = self._row_terms.pop(row)
        self._df[ids] -= 1
        self._live_count -= 1
        self._total_length -= float(counts.sum())
        self._lengths[row] = 0

    def rebuild(self, row_map: np.ndarray | None = None) -> None:
        """Fold the tail into the main matrix; with `row_map` (old row -> new row), renumber rows."""
        if row_map is not None:
            self._row_terms = {int(row_map[r]): v for r, v in self._row_terms.items()}
            lengths = np.zeros(max(len(self._lengths), 1), np.float32)
            for row, (_, counts) in self._row_terms.items():
                lengths[row] = counts.sum()
            self._lengths = lengths
        n_rows = max(self._row_terms, default=-1) + 1
        self._main = self._matrix(list(self._row_terms), n_rows)
        self._main_rows = n_rows
        self._tail_rows, self._tail = [], None

    def needs_rebuild(self) -> bool:
        return len(self._tail_rows) > max(2000, self._main_rows // 10)

    def scores(self, query: str, n_rows: int) -> np.ndarray:
        """BM25 score of every row in [0, n_rows) for `query`.

        A removed row may still score until the next rebuild: the caller masks rows it no longer holds.
        """
        out = np.zeros(n_rows, dtype=np.float32)
        if self._live_count == 0:
            return out
        if self._tail is None and self._tail_rows:
            self._tail = self._matrix(self._tail_rows, n_rows)
        avg_length = self._total_length / self._live_count
        norm = self.k1 * (1 - self.b + self.b * self._lengths / max(avg_length, 1e-9))
        for term in set(terms(query)):
            col = self.vocabulary.get(term)
            if col is None or self._df[col] <= 0:
                continue
            idf = self.idf(term)
            for matrix in (self._main, self._tail):
                if matrix is None or col >= matrix.shape[1]:
                    continue
                start, end = matrix.indptr[col], matrix.indptr[col + 1]
                rows, tf = matrix.indices[start:end], matrix.data[start:end]
                keep = rows < n_rows
                rows, tf = rows[keep], tf[keep]
                out[rows] += idf * tf * (self.k1 + 1) / (tf + norm[rows])
        return out

    def idf(self, term: str) -> float:
        """How rare a (stemmed) term is among the live rows; a term no row holds is as rare as it gets."""
        col = self.vocabulary.get(term)
        df = float(max(self._df[col], 0)) if col is not None else 0.0
        return math.log(1 + (self._live_count - df + 0.5) / (df + 0.5))

    def holds(self, term: str) -> bool:
        """Whether any live row has this (stemmed) term."""
        col = self.vocabulary.get(term)
        return col is not None and self._df[col] > 0

    def live(self, row: int) -> bool:
        return row in self._row_terms

    def _encode(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ids = [self.vocabulary.setdefault(w, len(self.vocabulary)) for w in words]
        if len(self.vocabulary) > len(self._df):
            self._df = np.concatenate([self._df, np.zeros(max(4096, len(self.vocabulary)), np.int64)])
        unique, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        return unique, counts.astype(np.float32)

    def _matrix(self, rows: list[int], n_rows: int) -> sparse.csc_matrix:
        live = [r for r in rows if r in self._row_terms]
        if not live:
            return sparse.csc_matrix((n_rows, len(self.vocabulary)), dtype=np.float32)
        parts = [self._row_terms[r] for r in live]
        row_ids = np.repeat(np.asarray(live, dtype=np.int64), [len(p[0]) for p in parts])
        cols = np.concatenate([p[0] for p in parts])
        data = np.concatenate([p[1] for p in parts])
        return sparse.csc_matrix((data, (row_ids, cols)), shape=(n_rows, len(self.vocabulary)), dtype=np.float32)
