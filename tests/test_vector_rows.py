"""The index's vectors: a base and a delta under one numbering; a big base scanned as int8, then rescored."""

import numpy as np

from knowledge.vector_rows import RESCORE, Quantized, VectorRows


def unit_rows(n: int, dims: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dims), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_base_and_delta_score_as_one_matrix_and_removed_rows_never_score():
    base, delta, query = unit_rows(50, 16), unit_rows(7, 16, seed=1), unit_rows(1, 16, seed=2)[0]
    rows = VectorRows(base.copy(), np.arange(100, 150))
    added = rows.append(np.arange(200, 207), delta * 3)  # normalised on the way in
    assert added.tolist() == list(range(50, 57))
    rows.drop(np.array([3, 52]))
    view = rows.view()
    scores = view.cosine(query)
    expected = np.concatenate([base, delta]) @ query
    assert np.isneginf(scores[[3, 52]]).all() and rows.size == 55
    keep = np.setdiff1d(np.arange(57), [3, 52])
    assert np.allclose(scores[keep], expected[keep], atol=1e-6)
    assert view.chunk_ids([0, 56]) == [100, 206]


def test_an_int8_base_gives_the_exact_top_rows_with_their_exact_cosines():
    base, queries = unit_rows(20_000, 96), unit_rows(20, 96, seed=3)
    quantized = Quantized.of(base)
    assert quantized.codes.dtype == np.int8 and quantized.codes.nbytes * 4 == base.nbytes
    view = VectorRows(base, np.arange(len(base)), quantized).view()
    for query in queries:
        exact = base @ query
        scores = view.cosine(query)
        top = np.argsort(-exact)[:10]
        assert np.array_equal(np.argsort(-scores)[:10], top)
        assert np.allclose(scores[top], exact[top], atol=1e-6)
        assert np.abs(scores - exact).max() < 0.02  # the rest: estimates
    assert RESCORE < len(base)
