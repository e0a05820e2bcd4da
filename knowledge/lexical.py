"""Words as retrieval sees them, their stored form, and a BM25 index over rows that grows and shrinks in place.

`terms()` is shared by the local embedder and the BM25 index so both see the same words: lower case,
stop words dropped, a light suffix stemmer so "indexes", "indexed" and "indexing" meet.

A chunk's terms are counted once, at ingest, and stored with it (Chunk.terms, `pack_terms`), so that a
process starting cold builds its BM25 index from arrays instead of re-reading and re-tokenising every
text. The stored form, in one place:

    records of (uint64 term hash, uint16 count), little-endian, 10 bytes each, no padding;
    the first record is the header (0, TERMS_FORMAT); then one record per distinct term, sorted by hash.

A term's hash is the first 8 bytes of blake2b of its stem (stable across processes, unlike `hash()`).
64 bits, not 32: a knowledge base easily holds a million distinct terms (names, codes, numbers), and at
32 bits that would merge about a hundred pairs of them (birthday bound); at 64 bits the odds of a single
merge are ~1e-8. That costs 4 bytes per distinct term of a chunk. The header record makes every blob a
whole number of records, so a batch of blobs is decoded with one `np.frombuffer` over their
concatenation; an empty blob means "not computed" (rows written before the column existed), and a
header with another TERMS_FORMAT means "computed by an older tokeniser": both fall back to the text.

`BM25Rows` keeps term frequencies in a compressed sparse column matrix (one column per term: a query
reads only its own terms' postings) plus a small "tail" matrix of rows added since the last build, so
adding one document costs a rebuild of the tail only. Removed rows are masked and dropped at the next
full build. numpy + scipy only.
"""

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
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

# Bump whenever terms() or term_hash() would give a text other terms: stored blobs of another format are
# then ignored (recomputed from the text at load) until `manage.py reindex` rewrites them.
TERMS_FORMAT = 1
_RECORD = np.dtype([("hash", "<u8"), ("count", "<u2")])
_HEADER = np.array([(0, TERMS_FORMAT)], dtype=_RECORD).tobytes()
_MAX_COUNT = np.iinfo(np.uint16).max  # a chunk of ~800 tokens never gets near it; clamped all the same


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


@lru_cache(maxsize=200_000)
def term_hash(term: str) -> int:
    """A term's stable 64-bit id (never 0: that value marks the header record)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little") or 1


def pack_terms(text: str) -> bytes:
    """The stored form of `text`'s term counts (the format is described at the top of this module)."""
    counts: Counter[int] = Counter()
    for term, count in Counter(terms(text)).items():
        counts[term_hash(term)] += count
    records = np.empty(len(counts) + 1, dtype=_RECORD)
    records[0] = (0, TERMS_FORMAT)
    if counts:
        hashes = np.fromiter(counts.keys(), dtype=np.uint64, count=len(counts))
        order = np.argsort(hashes)
        records["hash"][1:] = hashes[order]
        records["count"][1:] = np.minimum(np.fromiter(counts.values(), np.int64, len(counts))[order], _MAX_COUNT)
    return records.tobytes()


def is_current_terms(blob: bytes | memoryview | None) -> bool:
    """Whether `blob` holds terms packed by this version (else the text must be tokenised again)."""
    return blob is not None and len(blob) % _RECORD.itemsize == 0 and bytes(blob[:len(_HEADER)]) == _HEADER


def unpack_terms(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(term hashes as uint64, counts) of one packed blob."""
    _, hashes, counts = unpack_many([blob])
    return hashes, counts


def unpack_many(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(terms per blob, all hashes, all counts) of many packed blobs, decoded in one pass.

    Raises ValueError if any blob is not in the current format (check with `is_current_terms`).
    """
    sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
    if np.any(sizes % _RECORD.itemsize) or np.any(sizes == 0):
        raise ValueError("Not packed term counts of the current format.")
    records = np.frombuffer(b"".join(blobs), dtype=_RECORD)
    lengths = sizes // _RECORD.itemsize
    headers = np.cumsum(lengths) - lengths
    if np.any(records["hash"][headers] != 0) or np.any(records["count"][headers] != TERMS_FORMAT):
        raise ValueError("Not packed term counts of the current format.")
    body = np.ones(len(records), dtype=bool)
    body[headers] = False
    return lengths - 1, records["hash"][body], records["count"][body]


class BM25Rows:
    """BM25 (Lucene's idf, k1=1.2, b=0.75) over numbered rows; rows are added and removed in place.

    Columns are terms, known by their hash: after a build, `_hashes` lists the columns' hashes sorted (a
    query term is found by binary search); terms first seen after it get the next columns through
    `_new_columns`. The main matrix is kept by rows too (CSR): removing a row needs its terms.
    """

    k1 = 1.2
    b = 0.75

    def __init__(self):
        self._hashes = np.zeros(0, dtype=np.uint64)  # column -> term hash; sorted up to _sorted_columns
        self._sorted_columns = 0
        self._new_columns: dict[int, int] = {}  # term hash -> column, for terms first seen since the build
        self._df = np.zeros(0, dtype=np.int64)  # documents (rows) per column, live rows only
        self._lengths = np.zeros(0, dtype=np.float32)  # terms per row; 0 for rows not held
        self._live = np.zeros(0, dtype=bool)
        self._main = sparse.csc_matrix((0, 0), dtype=np.float32)
        self._main_by_row = sparse.csr_matrix((0, 0), dtype=np.float32)
        self._main_rows = 0  # rows [0, _main_rows) are in _main
        self._tail_terms: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # row -> (columns, counts)
        self._tail: sparse.csc_matrix | None = None
        self._live_count = 0
        self._total_length = 0.0

    # --- changes ------------------------------------------------------------------------------------
    def add(self, rows, sizes, hashes: np.ndarray, counts: np.ndarray) -> None:
        """Add rows: row `rows[i]` holds the next `sizes[i]` terms of (`hashes`, `counts`) (`unpack_many`)."""
        rows = np.asarray(rows, dtype=np.int64)
        sizes = np.asarray(sizes, dtype=np.int64)
        if not len(rows):
            return
        if len(self._tail_terms) + len(rows) > self._rebuild_over():  # a cold start, or a big batch
            if self._live_count:
                held = self._held()
                rows, sizes, hashes, counts = (np.concatenate([a, np.asarray(b, dtype=a.dtype)])
                                               for a, b in zip(held, (rows, sizes, hashes, counts), strict=True))
            self._build(rows, sizes, hashes, counts)
            return
        columns = self._columns_for(np.asarray(hashes, dtype=np.uint64))
        counts = np.asarray(counts, dtype=np.float32)
        self._grow_rows(int(rows.max()) + 1)
        for row, cols, tfs in zip(rows, np.split(columns, np.cumsum(sizes)[:-1]),
                                  np.split(counts, np.cumsum(sizes)[:-1]), strict=True):
            row = int(row)
            self._tail_terms[row] = (cols, tfs)
            self._live[row] = True
            self._lengths[row] = tfs.sum()
            self._df[cols] += 1
            self._live_count += 1
            self._total_length += float(tfs.sum())
        self._tail = None

    def remove(self, row: int) -> None:
        if not self.live(row):  # e.g. its chunk was deleted before its terms could be read
            return
        if row in self._tail_terms:
            cols, _ = self._tail_terms.pop(row)
        else:
            start, end = self._main_by_row.indptr[row], self._main_by_row.indptr[row + 1]
            cols = self._main_by_row.indices[start:end]
        self._df[cols] -= 1
        self._live[row] = False
        self._live_count -= 1
        self._total_length -= float(self._lengths[row])
        self._lengths[row] = 0

    def rebuild(self, row_map: np.ndarray | None = None) -> None:
        """Fold the tail into the main matrix; with `row_map` (old row -> new row), renumber rows."""
        rows, sizes, hashes, counts = self._held()
        if row_map is not None:
            rows = np.asarray(row_map, dtype=np.int64)[rows]
        self._build(rows, sizes, hashes, counts)

    def needs_rebuild(self) -> bool:
        return len(self._tail_terms) > self._rebuild_over()

    # --- queries ------------------------------------------------------------------------------------
    def scores(self, query: str, n_rows: int) -> np.ndarray:
        """BM25 score of every row in [0, n_rows) for `query`.

        A removed row may still score until the next rebuild: the caller masks rows it no longer holds.
        """
        out = np.zeros(n_rows, dtype=np.float32)
        if self._live_count == 0:
            return out
        if self._tail is None and self._tail_terms:
            self._tail = self._tail_matrix(n_rows)
        avg_length = self._total_length / self._live_count
        norm = self.k1 * (1 - self.b + self.b * self._lengths / max(avg_length, 1e-9))
        for term in set(terms(query)):
            col = self._column(term)
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
        col = self._column(term)
        df = float(max(self._df[col], 0)) if col is not None else 0.0
        return math.log(1 + (self._live_count - df + 0.5) / (df + 0.5))

    def holds(self, term: str) -> bool:
        """Whether any live row has this (stemmed) term."""
        col = self._column(term)
        return col is not None and self._df[col] > 0

    def live(self, row: int) -> bool:
        return row < len(self._live) and bool(self._live[row])

    # --- inside -------------------------------------------------------------------------------------
    def _rebuild_over(self) -> int:
        return max(2000, self._main_rows // 10)

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

    def _build(self, rows: np.ndarray, sizes: np.ndarray, hashes: np.ndarray, counts: np.ndarray) -> None:
        """Replace everything with these rows: sorted columns, one main matrix, no tail."""
        rows, sizes = np.asarray(rows, dtype=np.int64), np.asarray(sizes, dtype=np.int64)
        hashes, data = np.asarray(hashes, dtype=np.uint64), np.asarray(counts, dtype=np.float32)
        if np.any(np.diff(rows) < 0):  # rows in order, so that the matrix is built by rows without sorting
            rows, sizes, hashes, data = _by_row(rows, sizes, hashes, data)
        self._hashes = np.unique(hashes)
        self._sorted_columns = len(self._hashes)
        self._new_columns = {}
        columns = _positions(self._hashes, hashes)
        n_rows = int(rows[-1]) + 1 if len(rows) else 0
        row_sizes = np.zeros(n_rows, dtype=np.int64)
        row_sizes[rows] = sizes
        indptr = np.concatenate([[0], np.cumsum(row_sizes)])
        self._main_by_row = sparse.csr_matrix((data, columns, indptr), shape=(n_rows, len(self._hashes)))
        self._main = self._main_by_row.tocsc()
        self._main_rows = n_rows
        self._df = np.bincount(columns, minlength=len(self._hashes)).astype(np.int64)
        self._lengths = np.zeros(max(n_rows, 1024), dtype=np.float32)
        filled = sizes > 0
        if filled.any():  # counts are small integers: float32 sums are exact
            self._lengths[rows[filled]] = np.add.reduceat(data, (np.cumsum(sizes) - sizes)[filled])
        self._live = np.zeros(len(self._lengths), dtype=bool)
        self._live[rows] = True
        self._live_count = len(rows)
        self._total_length = float(self._lengths.sum(dtype=np.float64))
        self._tail_terms, self._tail = {}, None

    def _held(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, sizes, hashes, counts) of every live row, in the form `add` takes."""
        main_rows = np.flatnonzero(self._live[:self._main_rows])
        main = self._main_by_row[main_rows] if len(main_rows) else sparse.csr_matrix((0, 0), dtype=np.float32)
        tail_rows = sorted(self._tail_terms)
        tail = [self._tail_terms[r] for r in tail_rows]
        return (
            np.concatenate([main_rows, np.asarray(tail_rows, dtype=np.int64)]).astype(np.int64),
            np.concatenate([np.diff(main.indptr) if len(main_rows) else np.zeros(0, np.int64),
                            np.asarray([len(c) for c, _ in tail], dtype=np.int64)]).astype(np.int64),
            self._hashes[np.concatenate([main.indices, *(c for c, _ in tail)]).astype(np.int64)],
            np.concatenate([main.data, *(t for _, t in tail)]).astype(np.float32),
        )

    def _grow_rows(self, n_rows: int) -> None:
        if n_rows > len(self._lengths):
            extra = max(1024, n_rows)
            self._lengths = np.concatenate([self._lengths, np.zeros(extra, np.float32)])
            self._live = np.concatenate([self._live, np.zeros(extra, dtype=bool)])

    def _tail_matrix(self, n_rows: int) -> sparse.csc_matrix:
        rows = list(self._tail_terms)
        parts = [self._tail_terms[r] for r in rows]
        row_ids = np.repeat(np.asarray(rows, dtype=np.int64), [len(p[0]) for p in parts])
        cols = np.concatenate([p[0] for p in parts])
        data = np.concatenate([p[1] for p in parts])
        return sparse.csc_matrix((data, (row_ids, cols)), shape=(max(n_rows, int(row_ids.max(initial=-1)) + 1),
                                 len(self._hashes)), dtype=np.float32)


def _positions(sorted_unique: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """The position of each of `hashes` in `sorted_unique`, which holds them all.

    np.searchsorted does a binary search per entry (~1 s for 10M); the hashes are uniform, so a table of
    where each value of their top bits starts, then a step or two along, does it in a fraction of that.
    """
    if not len(hashes):
        return np.zeros(0, dtype=np.int32)
    bits = min(max(int(len(sorted_unique)).bit_length() + 1, 1), 32)
    shift = np.uint64(64 - bits)
    starts = np.searchsorted(sorted_unique, np.arange(2**bits, dtype=np.uint64) << shift).astype(np.int32)
    positions = starts[hashes >> shift]
    pending = np.flatnonzero(sorted_unique[positions] != hashes)
    while len(pending):  # a few rounds: a bucket holds ~0.5 values on average
        positions[pending] += 1
        pending = pending[sorted_unique[positions[pending]] != hashes[pending]]
    return positions


def _by_row(rows, sizes, hashes, data):
    """The same rows with their entries, in row order."""
    order = np.argsort(rows, kind="stable")
    offsets = np.cumsum(sizes) - sizes
    entries = np.repeat(offsets[order] - (np.cumsum(sizes[order]) - sizes[order]), sizes[order])
    entries += np.arange(len(entries))
    return rows[order], sizes[order], hashes[entries], data[entries]
