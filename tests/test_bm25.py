"""BM25 over packed term counts scores as BM25 over the words themselves, built at once or grown row by row."""

import math

import numpy as np
import pytest

from knowledge.bm25 import BM25Rows, Postings
from knowledge.lexical import pack_terms, terms, unpack_many
from tests.test_lexical import TEXTS, bm25_by_words


@pytest.mark.parametrize("query", ["magma volcano", "hot lava", "index", "bread yeast oven", "nothing matches"])
def test_bm25_over_stored_terms_scores_as_bm25_over_the_words(query):
    bm25 = BM25Rows()
    bm25.add(range(len(TEXTS)), *unpack_many([pack_terms(t) for t in TEXTS]))  # as a tail
    assert np.allclose(bm25.scores(terms(query), len(TEXTS)), bm25_by_words(TEXTS, query), rtol=1e-5)
    assert bm25.idf("magma") == pytest.approx(math.log(1 + (5 - 2 + 0.5) / 2.5))
    assert bm25.holds("magma") and not bm25.holds("zyzzyva")


def test_a_cold_build_and_rows_added_one_at_a_time_score_the_same():
    texts = [f"note {i}: item{i % 300} sits next to thing{i % 7} and thing{i % 11}" for i in range(2500)]
    blobs = [pack_terms(t) for t in texts]
    cold = BM25Rows(Postings.build(range(len(texts)), *unpack_many(blobs)))  # a cold start: one build
    grown = BM25Rows()
    for start in range(0, len(texts), 100):  # as documents arrive: tails, folded in when they grow
        grown.add(range(start, start + 100), *unpack_many(blobs[start:start + 100]))
        if grown.tail_size > 1000:  # the index builds a new base once its tail grows
            grown = BM25Rows(Postings.build(*grown.held()))
    grown.add([len(texts)], *unpack_many([pack_terms("a brand new word: quokka item7")]))  # a new column
    assert grown.holds("quokka") and grown.scores(["quokka"], len(texts) + 1).nonzero()[0].tolist() == [len(texts)]
    grown.remove(len(texts))
    assert not grown.holds("quokka")
    for query in ["item7 thing3", "thing5 note", "item299 quokka"]:
        assert np.allclose(grown.scores(terms(query), len(texts)), cold.scores(terms(query), len(texts)), rtol=1e-5)
        assert np.allclose(cold.scores(terms(query), len(texts)), bm25_by_words(texts, query), rtol=1e-5)


def test_rows_given_out_of_order_build_the_same_index():
    texts = [f"entry {i} mentions widget{i % 50} and gadget{i % 13}" for i in range(2100)]
    blobs = [pack_terms(t) for t in texts]
    in_order = BM25Rows(Postings.build(range(len(texts)), *unpack_many(blobs)))
    order = np.random.default_rng(0).permutation(len(texts))
    shuffled = BM25Rows(Postings.build(order, *unpack_many([blobs[i] for i in order])))
    for query in ["widget7 gadget3", "entry 2099"]:
        assert np.array_equal(shuffled.scores(terms(query), len(texts)), in_order.scores(terms(query), len(texts)))
