"""Words as retrieval sees them, and term counts packed at ingest (BM25 over them: test_bm25.py)."""

import math
from collections import Counter

import numpy as np
import pytest

from knowledge.lexical import (
    is_current_terms,
    pack_terms,
    term_hash,
    terms,
    unpack_many,
    unpack_terms,
)

TEXTS = [
    "Volcanoes erupt when magma rises through the crust. Basalt lava flows are runny and hot.",
    "Sourdough bread needs a starter culture of wild yeast. Bake it in a very hot oven.",
    "Planets follow elliptical orbits around the sun, as Kepler described in his laws.",
    "Magma chambers feed volcanoes; magma that reaches the surface is called lava.",
    "Indexes, indexed, indexing: an index of every index.",
]


def bm25_by_words(texts: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 straight from the definition (Lucene's idf), over the words themselves: the reference."""
    counts = [Counter(terms(t)) for t in texts]
    average = sum(sum(c.values()) for c in counts) / len(counts)
    out = np.zeros(len(texts))
    for term in set(terms(query)):
        df = sum(term in c for c in counts)
        idf = math.log(1 + (len(texts) - df + 0.5) / (df + 0.5))
        for row, c in enumerate(counts):
            if c[term]:
                tf, length = c[term], sum(c.values())
                out[row] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))
    return out


def test_packed_terms_round_trip_to_the_counts_of_each_term():
    hashes, counts = unpack_terms(pack_terms(TEXTS[4]))
    assert hashes.dtype == np.uint64 and list(hashes) == sorted(hashes)
    expected = {term_hash(term): n for term, n in Counter(terms(TEXTS[4])).items()}
    assert dict(zip(hashes.tolist(), counts.tolist(), strict=True)) == expected
    assert expected == {term_hash("index"): 5, term_hash("every"): 1}


def test_term_hashes_are_stable_across_processes_and_runs():
    # Stored in the database: a salted hash() would give every process other columns.
    assert term_hash("index") == 13034497358598440025
    assert term_hash("magma") == 15593644632844206061


def test_a_text_without_terms_still_packs_to_current_terms():
    blob = pack_terms("the and of, to!")
    assert is_current_terms(blob) and len(blob) == 10
    assert [len(a) for a in unpack_terms(blob)] == [0, 0]


def test_missing_or_older_terms_are_not_current():
    assert not is_current_terms(b"")
    assert not is_current_terms(None)
    older = bytearray(pack_terms(TEXTS[0]))
    older[8] = 0  # the header record's count is the format version
    assert not is_current_terms(bytes(older))
    with pytest.raises(ValueError):
        unpack_many([pack_terms(TEXTS[0]), b""])


def test_many_blobs_decode_at_once_as_one_by_one():
    sizes, hashes, counts = unpack_many([pack_terms(t) for t in TEXTS])
    one_by_one = [unpack_terms(pack_terms(t)) for t in TEXTS]
    assert sizes.tolist() == [len(h) for h, _ in one_by_one]
    assert np.array_equal(hashes, np.concatenate([h for h, _ in one_by_one]))
    assert np.array_equal(counts, np.concatenate([c for _, c in one_by_one]))
