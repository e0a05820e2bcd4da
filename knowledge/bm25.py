"""BM25 over numbered rows (Lucene's idf, k1=1.2, b=0.75); rows are added and removed in place.

Term frequencies are kept twice in one built part, `Postings`: by term (a query reads only its own terms'
postings) and by row (removing a row needs its terms). Both are plain arrays, so a snapshot file can hold
them and worker processes map them read-only (knowledge/snapshot.py). Rows added since the build go to a
small "tail" (a sparse matrix per batch of rows added, merged when there are many), so adding one document
costs about its own rows only. Removed rows are masked, and their terms no longer count towards document frequencies;
they leave the arrays at the next build. numpy + scipy only.
"""

import math
from typing import NamedTuple

import numpy as np
from scipy import sparse

from knowledge.lexical import term_hash
from knowledge.vocabulary import Vocabulary

TAIL_BLOCKS = 16  # more separate tail matrices than this: merge them (a query reads each one)


class Postings(NamedTuple):
    """One built BM25 matrix as plain arrays (row numbers are the index's rows)."""

    hashes: np.ndarray  # uint64[T], sorted: column -> term hash
    col_ptr: np.ndarray  # int64[T + 1]: the postings of column c are [col_ptr[c], col_ptr[c + 1])
    col_rows: np.ndarray  # int32[nnz]
    col_tf: np.ndarray  # uint16[nnz]
    row_ptr: np.ndarray  # int64[n + 1]: the terms of row r are [row_ptr[r], row_ptr[r + 1])
    row_cols: np.ndarray  # int32[nnz]
    row_tf: np.ndarray  # uint16[nnz]
    live: np.ndarray  # bool[n]: the rows built in

    @classmethod
    def build(cls, rows, sizes, hashes, counts) -> "Postings":
        """From rows in the form `BM25Rows.add` takes; rows may come in any order."""
        vocabulary = Vocabulary()
        ids = vocabulary.ids(np.asarray(hashes, dtype=np.uint64))
        sorted_hashes, column_of = vocabulary.columns()
        return cls.from_columns(rows, sizes, column_of[ids], counts, sorted_hashes)

    @classmethod
    def from_columns(cls, rows, sizes, columns, counts, hashes: np.ndarray) -> "Postings":
        """As `build`, with each entry's term given as its column: its place in `hashes`, sorted and distinct
        (a cold load numbers the terms as it reads them, knowledge/vocabulary.py)."""
        rows, sizes = np.asarray(rows, dtype=np.int64), np.asarray(sizes, dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int32)
        data = np.asarray(counts)
        if data.dtype != np.uint16:  # stored counts are uint16 already: no copy of them
            data = np.minimum(data, 65535).astype(np.uint16)
        if np.any(np.diff(rows) < 0):  # rows in order, so that the matrix is built by rows without sorting
            rows, sizes, columns, data = _by_row(rows, sizes, columns, data)
        n_rows = int(rows[-1]) + 1 if len(rows) else 0
        row_sizes = np.zeros(n_rows, dtype=np.int64)
        row_sizes[rows] = sizes
        row_ptr = np.concatenate([[0], np.cumsum(row_sizes)]).astype(np.int64, copy=False)
        by_row = sparse.csr_matrix((data, columns, row_ptr), shape=(n_rows, len(hashes)))
        by_term = by_row.tocsc()
        live = np.zeros(n_rows, dtype=bool)
        live[rows] = True
        return cls(hashes, by_term.indptr.astype(np.int64, copy=False), by_term.indices.astype(np.int32, copy=False),
                   by_term.data.astype(np.uint16, copy=False), row_ptr, columns, data, live)

    @classmethod
    def empty(cls) -> "Postings":
        return cls.build(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.uint16))


class BM25Rows:
    """BM25 over numbered rows: a built `Postings` part (maybe mapped from a snapshot) plus a tail."""

    k1 = 1.2
    b = 0.75

    def __init__(self, postings: Postings | None = None):
        main = postings if postings is not None else Postings.empty()
        self._main = main
        self._main_rows = len(main.live)
        self._hashes = np.asarray(main.hashes)  # column -> term hash; sorted up to _sorted_columns
        self._sorted_columns = len(main.hashes)
        self._new_columns: dict[int, int] = {}  # term hash -> column, for terms first seen since the build
        # Private, small and changing: documents per column (live rows only), terms per row, live rows.
        self._df = np.diff(main.col_ptr).astype(np.int64)
        self._live = np.array(main.live, dtype=bool)
        self._lengths = np.zeros(len(self._live), dtype=np.float32)
        if len(main.row_tf):  # counts are small integers: float32 sums are exact
            starts = main.row_ptr[:-1]
            filled = np.flatnonzero(np.diff(main.row_ptr) > 0)
            self._lengths[filled] = np.add.reduceat(main.row_tf, starts[filled], dtype=np.float32)
        self._live_count = int(self._live.sum())
        self._total_length = float(self._lengths.sum(dtype=np.float64))
        self._tail_terms: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # row -> (columns, counts)
        # The tail's postings: one small matrix per `add`, merged into one when there are too many. A removed
        # row's postings stay until then (its terms leave the document frequencies at once).
        self._tail_blocks: list[sparse.csc_matrix] = []

    # --- changes ------------------------------------------------------------------------------------
    def add(self, rows, sizes, hashes: np.ndarray, counts: np.ndarray) -> None:
        """Add rows: row `rows[i]` holds the next `sizes[i]` terms of (`hashes`, `counts`) (`unpack_many`)."""
        rows = np.asarray(rows, dtype=np.int64)
        sizes = np.asarray(sizes, dtype=np.int64)
        if not len(rows):
            return
        columns = self._columns_for(np.asarray(hashes, dtype=np.uint64))
        counts = np.asarray(counts, dtype=np.float32)
        self._grow_rows(int(rows.max()) + 1)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        for row, start, end in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
            self._tail_terms[row] = (columns[start:end], counts[start:end])
        lengths = np.zeros(len(rows), dtype=np.float32)
        filled = sizes > 0
        lengths[filled] = np.add.reduceat(counts, starts[filled]) if len(counts) else 0
        self._live[rows] = True
        self._lengths[rows] = lengths
        self._df += np.bincount(columns, minlength=len(self._df))
        self._live_count += len(rows)
        self._total_length += float(lengths.sum(dtype=np.float64))
        if len(self._tail_blocks) >= TAIL_BLOCKS:
            self._tail_blocks = [self._block(list(self._tail_terms))]
        else:
            self._tail_blocks.append(self._block(rows.tolist()))

    def remove(self, row: int) -> None:
        if not self.live(row):  # e.g. its chunk was deleted before its terms could be read
            return
        if row in self._tail_terms:
            cols, _ = self._tail_terms.pop(row)
        else:
            cols = self._main.row_cols[self._main.row_ptr[row]:self._main.row_ptr[row + 1]]
        self._df[cols] -= 1
        self._live[row] = False
        self._live_count -= 1
        self._total_length -= float(self._lengths[row])
        self._lengths[row] = 0

    def held(self, row_map: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, sizes, hashes, counts) of every live row, in the form `add` and `Postings.build` take; with
        `row_map` (old row -> new row), renumbered."""
        main = self._main
        main_rows = np.flatnonzero(self._live[:self._main_rows])
        starts, ends = main.row_ptr[main_rows], main.row_ptr[main_rows + 1]
        sizes = ends - starts
        entries = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(int(sizes.sum()))
        tail_rows = sorted(r for r in self._tail_terms if self._live[r])
        tail = [self._tail_terms[r] for r in tail_rows]
        rows = np.concatenate([main_rows, np.asarray(tail_rows, dtype=np.int64)]).astype(np.int64)
        if row_map is not None:
            rows = np.asarray(row_map, dtype=np.int64)[rows]
        return (
            rows,
            np.concatenate([sizes, np.asarray([len(c) for c, _ in tail], dtype=np.int64)]).astype(np.int64),
            self._hashes[np.concatenate([main.row_cols[entries], *(c for c, _ in tail)]).astype(np.int64)],
            np.concatenate([main.row_tf[entries].astype(np.float32), *(t for _, t in tail)]).astype(np.float32),
        )

    # --- queries ------------------------------------------------------------------------------------
    def scores(self, words: list[str], n_rows: int, *, held: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every row in [0, n_rows) for a query of these (stemmed) words; `held`, if given (an
        integer array of n_rows zeros), gets how many of the distinct words each row holds.

        A removed row may still score until the next build: the caller masks rows it no longer holds.
        """
        out = np.zeros(n_rows, dtype=np.float32)
        if self._live_count == 0:
            return out
        avg_length = max(self._total_length / self._live_count, 1e-9)
        main = self._main
        for term in set(words):
            col = self._column(term)
            if col is None or self._df[col] <= 0:
                continue
            idf = self.idf(term)
            postings = []
            if col < self._sorted_columns:
                start, end = main.col_ptr[col], main.col_ptr[col + 1]
                postings.append((main.col_rows[start:end], main.col_tf[start:end]))
            for block in self._tail_blocks:
                if col < block.shape[1]:
                    start, end = block.indptr[col], block.indptr[col + 1]
                    postings.append((block.indices[start:end], block.data[start:end]))
            for rows, tf in postings:
                keep = rows < n_rows
                rows, tf = rows[keep], tf[keep].astype(np.float32)
                norm = self.k1 * (1 - self.b + self.b * self._lengths[rows] / avg_length)  # the posting rows' only
                out[rows] += idf * tf * (self.k1 + 1) / (tf + norm)
                if held is not None:
                    held[rows] += 1  # a row is in one block's postings of a term
        return out

    def idf(self, term: str) -> float:
        """How rare a (stemmed) term is among the live rows; a term no row holds is as rare as it gets."""
        col = self._column(term)
        df = float(max(self._df[col], 0)) if col is not None else 0.0
        return math.log(1 + (self._live_count - df + 0.5) / (df + 0.5))

    def holds(self, term: str) -> bool:
        """Whether any live row has this (stemmed) term."""
        col = self._column(term)
        return col is not None and self._df[col] > 0

    def live(self, row: int) -> bool:
        return row < len(self._live) and bool(self._live[row])

    @property
    def postings(self) -> Postings:
        """The built part (rows added or removed since are not in it)."""
        return self._main

    @property
    def tail_size(self) -> int:
        return len(self._tail_terms)

    # --- inside -------------------------------------------------------------------------------------
    def _column(self, term: str) -> int | None:
        value = term_hash(term)
        col = int(np.searchsorted(self._hashes[:self._sorted_columns], np.uint64(value)))
        if col < self._sorted_columns and int(self._hashes[col]) == value:
            return col
        return self._new_columns.get(value)

    def _columns_for(self, hashes: np.ndarray) -> np.ndarray:
        """Columns of these term hashes, giving new terms new columns."""
        sorted_hashes = self._hashes[:self._sorted_columns]
        cols = np.minimum(np.searchsorted(sorted_hashes, hashes), max(self._sorted_columns - 1, 0))
        found = (sorted_hashes[cols] == hashes) if self._sorted_columns else np.zeros(len(hashes), dtype=bool)
        cols = cols.astype(np.int64)
        unknown = np.flatnonzero(~found)
        if len(unknown):
            new = []
            for value in np.unique(hashes[unknown]).tolist():
                if value not in self._new_columns:
                    self._new_columns[value] = len(self._hashes) + len(new)
                    new.append(value)
            if new:
                self._hashes = np.concatenate([self._hashes, np.asarray(new, dtype=np.uint64)])
                self._df = np.concatenate([self._df, np.zeros(len(new), np.int64)])
            cols[unknown] = [self._new_columns[v] for v in hashes[unknown].tolist()]
        return cols

    def _grow_rows(self, n_rows: int) -> None:
        if n_rows > len(self._lengths):
            extra = max(1024, n_rows)
            self._lengths = np.concatenate([self._lengths, np.zeros(extra, np.float32)])
            self._live = np.concatenate([self._live, np.zeros(extra, dtype=bool)])

    def _block(self, rows: list[int]) -> sparse.csc_matrix:
        """The postings of these tail rows, as a matrix of every row and every column known so far."""
        parts = [self._tail_terms[r] for r in rows]
        row_ids = np.repeat(np.asarray(rows, dtype=np.int32), [len(p[0]) for p in parts])
        cols = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        data = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
        order = np.argsort(cols, kind="stable")  # by column, built straight into compressed form
        indptr = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=len(self._hashes)))])
        return sparse.csc_matrix((data[order], row_ids[order], indptr), shape=(len(self._live), len(self._hashes)))


def _by_row(rows, sizes, terms, data):
    """The same rows with their entries, in row order."""
    order = np.argsort(rows, kind="stable")
    offsets = np.cumsum(sizes) - sizes
    entries = np.repeat(offsets[order] - (np.cumsum(sizes[order]) - sizes[order]), sizes[order])
    entries += np.arange(len(entries))
    return rows[order], sizes[order], terms[entries], data[entries]
