"""knowledge/topk.py: the k largest of many scores, exactly as a full sort gives them."""

import numpy as np
import pytest

from knowledge.topk import largest, top


def expected(scores: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.mark.parametrize("n", [5, 100, 8192, 50_000])
@pytest.mark.parametrize("k", [1, 5, 20, 512])
def test_top_is_a_full_sort_cut_at_k(n, k):
    rng = np.random.default_rng(n + k)
    scores = rng.normal(size=n).astype(np.float32)
    scores[rng.integers(0, n, n // 10)] = -np.inf  # masked rows
    assert top(scores, k) == expected(scores, k)


def test_ties_masks_and_a_sample_that_misjudges():
    scores = np.zeros(50_000, dtype=np.float32)  # every score equal: the sample's threshold lets all through
    tied = top(scores, 10)
    assert len(set(tied)) == 10  # which of equal scores make the cut is not specified, as with a partition
    scores = np.full(50_000, -np.inf, dtype=np.float32)
    scores[[7, 49_999, 20_000]] = [0.5, 0.9, 0.1]  # fewer finite scores than k
    assert top(scores, 5)[:3] == [49_999, 7, 20_000]
    skewed = np.zeros(50_000, dtype=np.float32)
    skewed[::24] = np.linspace(1.0, 1.5, len(skewed[::24]))  # the rows the sample looks at are high: far more
    skewed[5] = 2.0                                              # than k reach its threshold
    assert top(skewed, 3) == [5, 49_992, 49_968]


def test_largest_is_unordered_but_complete():
    scores = np.random.default_rng(1).random(20_000)
    assert set(largest(scores, 100).tolist()) == set(expected(scores, 100))
    assert len(largest(scores, 0)) == 0 and len(largest(scores, 30_000)) == 20_000
