"""Term hashes numbered as they arrive, batch by batch: the BM25 index's columns, without one big sort.

A cold index reads ~10M (term hash, count) pairs at 100k chunks. Giving each distinct hash its column by
sorting all of them at once cost more than half a second of CPU and two copies of the hashes. Instead the
rows are numbered batch by batch as they arrive from the database (each reader thread sorts its own ~200k
hashes, in cache, while the other threads wait on the network), and only the distinct hashes, tens of
thousands, are sorted at the end to give every number its column.
"""

import threading

import numpy as np


class Vocabulary:
    """Distinct term hashes, each with a number in order of arrival. `ids` may be called from several threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sorted = np.zeros(0, dtype=np.uint64)  # every hash seen, sorted
        self._ids = np.zeros(0, dtype=np.int32)  # the number of each of them

    def __len__(self) -> int:
        return len(self._sorted)

    def ids(self, hashes: np.ndarray) -> np.ndarray:
        """The number of each of `hashes` (int32), numbering hashes not seen before."""
        local = unique(np.asarray(hashes, dtype=np.uint64))  # outside the lock: numpy sorts without the GIL
        with self._lock:
            at = np.searchsorted(self._sorted, local)
            known = at < len(self._sorted)
            known[known] = self._sorted[at[known]] == local[known]
            local_ids = np.empty(len(local), dtype=np.int32)
            local_ids[known] = self._ids[at[known]]
            new = np.flatnonzero(~known)
            local_ids[new] = np.arange(len(self._sorted), len(self._sorted) + len(new), dtype=np.int32)
            if len(new):
                self._sorted = np.insert(self._sorted, at[new], local[new])
                self._ids = np.insert(self._ids, at[new], local_ids[new])
        return local_ids[positions(local, hashes)]

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(the hashes sorted: column -> hash, the column of each number)."""
        column_of = np.empty(len(self._ids), dtype=np.int32)
        column_of[self._ids] = np.arange(len(self._ids), dtype=np.int32)
        return self._sorted, column_of

    def hashes_of(self, ids: np.ndarray) -> np.ndarray:
        """The hashes these numbers stand for."""
        by_id = np.empty(len(self._ids), dtype=np.uint64)
        by_id[self._ids] = self._sorted
        return by_id[np.asarray(ids, dtype=np.int64)]


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
