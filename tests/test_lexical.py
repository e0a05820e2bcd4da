"""Term counts are packed at ingest and BM25 over them scores as BM25 over the words themselves."""

import math
from collections import Counter

import numpy as np
import pytest

from knowledge.lexical import (
    BM25Rows,
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


@pytest.mark.parametrize("query", ["magma volcano", "hot lava", "index", "bread yeast oven", "nothing matches"])
def test_bm25_over_stored_terms_scores_as_bm25_over_the_words(query):
    bm25 = BM25Rows()
    bm25.add(range(len(TEXTS)), *unpack_many([pack_terms(t) for t in TEXTS]))
    assert np.allclose(bm25.scores(query, len(TEXTS)), bm25_by_words(TEXTS, query), rtol=1e-5)
    assert bm25.idf("magma") == pytest.approx(math.log(1 + (5 - 2 + 0.5) / 2.5))
    assert bm25.holds("magma") and not bm25.holds("zyzzyva")


def test_a_cold_build_and_rows_added_one_at_a_time_score_the_same():
    texts = [f"note {i}: item{i % 300} sits next to thing{i % 7} and thing{i % 11}" for i in range(2500)]
    blobs = [pack_terms(t) for t in texts]
    cold = BM25Rows()
    cold.add(range(len(texts)), *unpack_many(blobs))  # more rows than a tail holds: one build
    grown = BM25Rows()
    for start in range(0, len(texts), 100):  # as documents arrive: tails, folded in when they grow
        grown.add(range(start, start + 100), *unpack_many(blobs[start:start + 100]))
        if grown.needs_rebuild():
            grown.rebuild()
    grown.add([len(texts)], *unpack_many([pack_terms("a brand new word: quokka item7")]))  # a new column
    assert grown.holds("quokka") and grown.scores("quokka", len(texts) + 1).nonzero()[0].tolist() == [len(texts)]
    grown.remove(len(texts))
    assert not grown.holds("quokka")
    for query in ["item7 thing3", "thing5 note", "item299 quokka"]:
        assert np.allclose(grown.scores(query, len(texts)), cold.scores(query, len(texts)), rtol=1e-5)
        assert np.allclose(cold.scores(query, len(texts)), bm25_by_words(texts, query), rtol=1e-5)


def test_rows_given_out_of_order_build_the_same_index():
    texts = [f"entry {i} mentions widget{i % 50} and gadget{i % 13}" for i in range(2100)]
    blobs = [pack_terms(t) for t in texts]
    in_order, shuffled = BM25Rows(), BM25Rows()
    in_order.add(range(len(texts)), *unpack_many(blobs))
    order = np.random.default_rng(0).permutation(len(texts))
    shuffled.add(order, *unpack_many([blobs[i] for i in order]))
    for query in ["widget7 gadget3", "entry 2099"]:
        assert np.array_equal(shuffled.scores(query, len(texts)), in_order.scores(query, len(texts)))
