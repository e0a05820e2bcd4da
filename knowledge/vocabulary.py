"""Term hashes numbered as they arrive, batch by batch: the BM25 index's columns, without one big sort.

A cold index reads ~10M (term hash, count) pairs at 100k chunks. Giving each distinct hash its column by
sorting all of them at once cost more than half a second of CPU and two copies of the hashes. Instead the
rows are numbered batch by batch as they arrive from the database, in the reader threads: a batch's hashes
are looked up among those numbered so far (most are: words repeat), only the new ones are sorted, and at
the end only the distinct hashes, tens of thousands, are sorted to give every number its column.
"""

import threading
from typing import NamedTuple

import numpy as np


class Vocabulary:
    """Distinct term hashes, each with a number in order of arrival. `ids` may be called from several threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._known = _Known.of(np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int32))

    def __len__(self) -> int:
        return len(self._known.hashes)

    def ids(self, hashes: np.ndarray) -> np.ndarray:
        """The number of each of `hashes` (int32), numbering hashes not seen before. Most of a batch's hashes
        are known by then (words repeat): those are looked up, and only the others sorted."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        known = self._known  # replaced whole, never changed: no lock needed to read it
        at, found = known.find(hashes)
        out = np.empty(len(hashes), dtype=np.int32)
        out[found] = known.ids[at[found]]
        missing = np.flatnonzero(~found)
        if len(missing):
            out[missing] = self._numbered(hashes[missing])
        return out

    def _numbered(self, hashes: np.ndarray) -> np.ndarray:
        local = unique(hashes)  # outside the lock: numpy sorts without the GIL
        with self._lock:
            known = self._known
            at = np.searchsorted(known.hashes, local)
            seen = at < len(known.hashes)
            seen[seen] = known.hashes[at[seen]] == local[seen]
            local_ids = np.empty(len(local), dtype=np.int32)
            local_ids[seen] = known.ids[at[seen]]
            new = np.flatnonzero(~seen)
            local_ids[new] = np.arange(len(known.hashes), len(known.hashes) + len(new), dtype=np.int32)
            if len(new):
                self._known = _Known.of(np.insert(known.hashes, at[new], local[new]),
                                        np.insert(known.ids, at[new], local_ids[new]))
        return local_ids[positions(local, hashes)]

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(the hashes sorted: column -> hash, the column of each number)."""
        known = self._known
        column_of = np.empty(len(known.ids), dtype=np.int32)
        column_of[known.ids] = np.arange(len(known.ids), dtype=np.int32)
        return known.hashes, column_of


class _Known(NamedTuple):
    """The hashes numbered so far, sorted, with their numbers, and where each value of their top bits starts."""

    hashes: np.ndarray
    ids: np.ndarray
    starts: np.ndarray  # [2**bits + 1]
    shift: np.uint64

    @classmethod
    def of(cls, hashes: np.ndarray, ids: np.ndarray) -> "_Known":
        bits = min(max(len(hashes).bit_length() + 1, 1), 32)
        shift = np.uint64(64 - bits)
        counts = np.bincount((hashes >> shift).astype(np.int64), minlength=2**bits)
        return cls(hashes, ids, np.concatenate([[0], np.cumsum(counts)]).astype(np.int32), shift)

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(where each of `hashes` is, whether it is there): from the start of its top bits' bucket, a step or
        two along (a bucket holds ~0.5 hashes on average)."""
        top = (hashes >> self.shift).astype(np.int64)
        at, end = self.starts[top], self.starts[top + 1]
        pending = np.flatnonzero(at < end)
        while len(pending):
            pending = pending[self.hashes[at[pending]] < hashes[pending]]
            at[pending] += 1
            pending = pending[at[pending] < end[pending]]
        found = at < end
        found[found] = self.hashes[at[found]] == hashes[found]
        return at, found


def unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting: numpy 2.4's np.unique hashes, and is ~50x slower on 10M term hashes."""
    ordered = np.sort(values)
    if not len(ordered):
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def positions(sorted_unique: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """The position of each of `hashes` in `sorted_unique`, which holds them all.

    np.searchsorted does a binary search per entry (~1 s for 10M); the hashes are uniform, so a table of
    where each value of their top bits starts, then a step or two along, does it in a fraction of that.
    """
    if not len(hashes):
        return np.zeros(0, dtype=np.int32)
    bits = min(max(int(len(sorted_unique)).bit_length() + 1, 1), 32)
    shift = np.uint64(64 - bits)
    starts = np.searchsorted(sorted_unique, np.arange(2**bits, dtype=np.uint64) << shift).astype(np.int32)
    found = starts[hashes >> shift]
    pending = np.flatnonzero(sorted_unique[found] != hashes)
    while len(pending):  # a few rounds: a bucket holds ~0.5 values on average
        found[pending] += 1
        pending = pending[sorted_unique[found[pending]] != hashes[pending]]
    return found
