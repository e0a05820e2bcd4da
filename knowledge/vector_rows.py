"""The index's vectors: a base block of rows and a delta block of rows added since, one numbering.

The base block is read-only and may be a view of a snapshot file that every worker process maps (so it is
shared, knowledge/snapshot.py); the delta is private and small. Rows [0, n_base) are the base's, the
following ones the delta's; removed rows are masked (and zeroed in the delta). Rows are never renumbered
here: the index builds a new base, and a new VectorRows, when the delta or the dead rows grow too big.

A big base (INDEX_INT8_OVER_ROWS) is also kept as int8 codes with a scale per row, a quarter of the bytes:
a query scans those with SIMD kernels (simsimd), then computes the exact float32 cosine of the best
RESCORE rows, so the top of the ranking is exact (bench/scale.py measures recall against float32: 1.0 at
1M x 384). The float32 rows stay in the snapshot file, and only rescored rows are read from it.
"""

from typing import NamedTuple

import numpy as np
import simsimd
from django.conf import settings

from knowledge.topk import largest

RESCORE = 512  # rows whose int8 estimate is best get their exact float32 cosine


class Quantized(NamedTuple):
    """int8 codes of the base rows: row i is about codes[i] * scales[i]."""

    codes: np.ndarray  # int8 [n, dims]
    scales: np.ndarray  # float32 [n]

    @classmethod
    def of(cls, matrix: np.ndarray, block: int = 65_536) -> "Quantized":
        codes = np.empty(matrix.shape, dtype=np.int8)
        scales = np.empty(len(matrix), dtype=np.float32)
        for start in range(0, len(matrix), block):  # a block at a time: no float copy of the whole matrix
            rows = np.asarray(matrix[start:start + block], dtype=np.float32)
            peak = np.abs(rows).max(axis=1)
            scale = np.where(peak > 0, peak / 127, 1).astype(np.float32)
            codes[start:start + block] = np.rint(rows / scale[:, None])
            scales[start:start + block] = scale
        return cls(codes, scales)

    def estimate(self, vector: np.ndarray, out: np.ndarray) -> None:
        """Every row's dot product with `vector`, estimated from the codes, into `out`."""
        peak = float(np.abs(vector).max()) or 1.0
        query = np.rint(vector * (127 / peak)).astype(np.int8)
        dots = simsimd.cdist(query[None], self.codes, metric="dot", threads=settings.INDEX_SCAN_THREADS,
                             out_dtype="float32")
        np.multiply(np.asarray(dots)[0], self.scales * np.float32(peak / 127), out=out)


class VectorView(NamedTuple):
    """What one ranking reads: rows appended later or a new base do not disturb it."""

    base: np.ndarray
    delta: np.ndarray
    alive: np.ndarray
    dead: int
    base_ids: np.ndarray
    delta_ids: np.ndarray
    quantized: Quantized | None = None

    @property
    def n(self) -> int:
        return len(self.base) + len(self.delta)

    @property
    def dims(self) -> int:
        return self.base.shape[1] if len(self.base) else self.delta.shape[1]

    def chunk_ids(self, rows: list[int]) -> list[int]:
        n_base = len(self.base)
        return [int(self.base_ids[r]) if r < n_base else int(self.delta_ids[r - n_base]) for r in rows]

    def cosine(self, vector: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """Every row's cosine with `vector` (normalised rows: a dot product); -inf for removed rows and, given
        the mask `allowed`, for rows outside it."""
        vector = np.asarray(vector, dtype=np.float32)
        out = np.empty(self.n, dtype=np.float32)
        n_base = len(self.base)
        if self.quantized is not None and n_base > RESCORE:
            self.quantized.estimate(vector, out[:n_base])
            if allowed is not None:  # the exact rescoring goes to the best rows that may be returned
                out[:n_base][~allowed[:n_base]] = -np.inf
            best = largest(out[:n_base], RESCORE)
            best.sort()  # in file order: fewer, longer reads of the float32 rows
            out[best] = self.base[best] @ vector
        elif n_base:
            np.matmul(self.base, vector, out=out[:n_base])
        if len(self.delta):
            np.matmul(self.delta, vector, out=out[len(self.base):])
        if self.dead:
            out[~self.alive] = -np.inf
        if allowed is not None:
            out[~allowed] = -np.inf
        return out


class VectorRows:
    def __init__(self, base: np.ndarray | None = None, base_ids: np.ndarray | None = None,
                 quantized: Quantized | None = None):
        self.quantized = quantized
        self._base = base if base is not None else np.zeros((0, 0), dtype=np.float32)
        self._base_ids = base_ids if base_ids is not None else np.zeros(0, dtype=np.int64)
        self.n_base = len(self._base)
        self.dims = self._base.shape[1] if self.n_base else 0
        self._alive = np.ones(self.n_base, dtype=bool)
        self._delta = np.zeros((0, self.dims), dtype=np.float32)
        self._delta_ids = np.zeros(0, dtype=np.int64)
        self.n_delta = 0
        self.dead = 0

    @property
    def n(self) -> int:
        return self.n_base + self.n_delta

    @property
    def size(self) -> int:
        """Live rows."""
        return self.n - self.dead

    def view(self) -> VectorView:
        return VectorView(self._base, self._delta[:self.n_delta], self._alive[:self.n], self.dead,
                          self._base_ids, self._delta_ids[:self.n_delta], self.quantized)

    def append(self, chunk_ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Add rows (vectors are normalised here if they are not already); returns their row numbers."""
        if not len(chunk_ids):
            return np.zeros(0, dtype=np.int64)
        if not self.dims:
            self.dims = vectors.shape[1]
            self._delta = np.zeros((0, self.dims), dtype=np.float32)
        needed = self.n_delta + len(chunk_ids)
        if needed > len(self._delta):
            # Room up to the size at which the index builds a new base (a tenth of it): a new document then
            # never waits for the delta to be copied. Pages are only resident once rows are written.
            capacity = max(1024, needed + needed // 4, self.n_base // 10 + 1024)
            delta = np.empty((capacity, self.dims), dtype=np.float32)  # rows past n_delta are never read
            delta[:self.n_delta] = self._delta[:self.n_delta]
            self._delta = delta
            self._delta_ids = np.concatenate([self._delta_ids[:self.n_delta],
                                              np.zeros(capacity - self.n_delta, np.int64)])
            self._alive = np.concatenate([self._alive[:self.n], np.zeros(capacity - self.n_delta, dtype=bool)])
        block = self._delta[self.n_delta:needed]
        block[:] = vectors
        normalise_rows(block)
        self._delta_ids[self.n_delta:needed] = chunk_ids
        rows = np.arange(self.n, self.n + len(chunk_ids), dtype=np.int64)
        self._alive[rows] = True
        self.n_delta = needed
        return rows

    def drop(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[self._alive[rows]]
        self._alive[rows] = False
        delta_rows = rows[rows >= self.n_base] - self.n_base
        self._delta[delta_rows] = 0
        self.dead += len(rows)


def normalise_rows(block: np.ndarray) -> None:
    """Scale rows to unit length, in place (stored vectors are normalised already, as a rule)."""
    if not len(block):
        return
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    off = np.flatnonzero(np.abs(norms - 1) > 1e-3)
    if len(off):
        block[off] /= np.where(norms[off] == 0, 1, norms[off])[:, None]
