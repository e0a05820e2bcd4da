"""The indices of the k largest of many scores, without a pass over all of them that sorts.

A search takes the top of every row's score three times (the int8 estimate's best rows to rescore, then the
best of each ranking to fuse), over as many scores as the index has rows. np.argpartition on all of them
cost ~0.5 ms each at 50,000 rows, more than the matrix product. Here a strided sample of the scores gives a
threshold that about 2k of them reach; the candidates at or above it are partitioned instead. The answer is
exact: when at least k scores reach the threshold, the k largest are among them; otherwise (a sample that
misjudged, e.g. many equal scores) every score is partitioned, as before.
"""

import numpy as np

SAMPLE = 2048  # scores looked at to set the threshold
DIRECT_UNDER = 8192  # fewer scores than this: partition them all


def largest(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores (all of them if there are fewer), in no particular order."""
    n = len(scores)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if n >= DIRECT_UNDER and k * 16 <= n:
        sample = scores[::n // SAMPLE]
        # The sample's value that twice the expected share of it reaches (plus a margin for small k).
        rank = min(len(sample) - 1, 2 * k * len(sample) // n + 8)
        threshold = np.partition(sample, len(sample) - 1 - rank)[len(sample) - 1 - rank]
        candidates = np.flatnonzero(scores >= threshold)
        if len(candidates) >= k:
            return candidates[np.argpartition(scores[candidates], len(candidates) - k)[len(candidates) - k:]]
    return np.argpartition(scores, n - k)[n - k:]


def top(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest scores, largest first; equal scores in index order (which of several equal
    scores at the cut make it is not specified, as with any partition)."""
    rows = np.sort(largest(scores, k))
    return [int(i) for i in rows[np.argsort(-scores[rows], kind="stable")]]
