"""Term hashes numbered batch by batch, from several threads, build the same BM25 postings as one build."""

import threading

import numpy as np

from knowledge.bm25 import Postings
from knowledge.lexical import pack_terms, unpack_many
from knowledge.vocabulary import Vocabulary

TEXTS = [f"note {i}: item{i % 300} sits next to thing{i % 7}, word{i} and thing{i % 11}" for i in range(3000)]


def test_numbering_batches_from_threads_builds_the_same_postings_as_one_build():
    blobs = [pack_terms(t) for t in TEXTS]
    built = Postings.build(range(len(TEXTS)), *unpack_many(blobs))
    vocabulary, parts = Vocabulary(), {}

    def number(start: int) -> None:
        sizes, hashes, counts = unpack_many(blobs[start:start + 250])
        parts[start] = (np.arange(start, start + len(sizes)), sizes, vocabulary.ids(hashes), counts)

    threads = [threading.Thread(target=number, args=(start,)) for start in range(len(TEXTS) - 250, -1, -250)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows, sizes, ids, counts = (np.concatenate(c) for c in zip(*(parts[s] for s in sorted(parts)), strict=True))
    hashes, column_of = vocabulary.columns()
    numbered = Postings.from_columns(rows, sizes, column_of[ids], counts, hashes)
    for field, value in built._asdict().items():
        assert np.array_equal(getattr(numbered, field), value), field


def test_numbers_stand_for_the_hashes_they_were_given():
    _, hashes, _ = unpack_many([pack_terms(t) for t in TEXTS[:50]])
    vocabulary = Vocabulary()
    first = vocabulary.ids(hashes[:400])
    again = vocabulary.ids(hashes)
    sorted_hashes, column_of = vocabulary.columns()
    assert np.array_equal(again[:400], first)
    assert np.array_equal(sorted_hashes[column_of[again]], hashes)
    assert np.array_equal(sorted_hashes, np.unique(hashes)) and len(vocabulary) == len(sorted_hashes)
