"""A chunk holding the query's words in the query's order ranks above one holding them scattered."""

import re
import time

import pytest

from knowledge import stored_rows
from knowledge.lexical import stem, terms, word_forms
from knowledge.models import Chunk
from knowledge.word_pairs import QueryPairs, query_pairs
from tests.factories import make_document

# (query, a passage with its words side by side, one with the same words scattered: shorter, so BM25 and
# the vectors alone put it first)
PHRASES = [
    ("rotate the log files", "Rotate the log files every night so that the disk does not fill up with old messages.",
     "Files are kept for a week; the log shows when we rotate them."),
    ("reset the admin password", "To reset the admin password, open the settings page and choose the security tab.",
     "The password for admin accounts: ask IT to reset it."),
    ("connection pool size", "The connection pool size limits how many database connections the server keeps open.",
     "Size the pool by the number of workers; each connection costs memory."),
]
# Other passages of the knowledge base, sharing a word or two with the queries.
OTHERS = [
    "A password must be at least twelve characters long and is changed every year.",
    "Connections to the database time out after thirty seconds without an answer.",
    "Log in with your company account; the admin team answers within a day.",
    "Old files are moved to the archive disk at the end of each month.",
    "Swimming pool opening hours change with the season; check the notice board.",
]
TEXTS = [
    "Indexes, indexed, indexing: an index of every index. The relational relations relate.",
    "Rotate the log files every night; files are kept, the log shows when we rotate them.",
    "Café au lait, naïve résumé: the cafés of Zürich serve café crème and crème brûlée.",
    "x = a_b + 2 * c3; print(x_1) if a b c else 42 == 42 OR __init__ __init__",
    "ÉCOLE Straße STRASSE ǅemal; İstanbul istanbul and 東京 tokyo 東京 tokyo",
]


def pairs_by_terms(query: str, text: str) -> int:
    """The reference: the query's pairs of consecutive terms that the text's terms() hold in that order, side by
    side or one term apart."""
    words, seq = terms(query), terms(text)
    near = set(zip(seq, seq[1:], strict=False)) | set(zip(seq, seq[2:], strict=False))
    return len(set(zip(words, words[1:], strict=False)) & near)


@pytest.mark.parametrize("text", TEXTS)
def test_pairs_side_by_side_are_those_of_the_texts_terms(text):
    words = terms(text)
    for start in range(len(words) - 1):
        query = " ".join(words[start:start + 4])
        assert query_pairs(terms(query)).found_in(text) == pairs_by_terms(query, text), query
    shuffled = " ".join(reversed(words))
    assert query_pairs(terms(shuffled)).found_in(text) == pairs_by_terms(shuffled, text)


@pytest.mark.parametrize("text", TEXTS)
def test_every_word_is_among_the_forms_of_its_stem(text):
    for word in re.findall(r"\w+", text.lower()):
        assert word in word_forms(stem(word))
    assert all(stem(form) == "index" for form in word_forms("index"))


def test_a_query_of_one_word_has_no_pairs():
    assert query_pairs(terms("the volcano")) is None


@pytest.mark.usefixtures("fresh_index")
@pytest.mark.parametrize("embedder", ["local", "hashed"])
def test_a_passage_with_the_query_words_in_order_outranks_one_with_them_scattered(db, fresh_index, settings, embedder):
    settings.EMBEDDING_BACKEND = embedder
    for i, (_, together, scattered) in enumerate(PHRASES):
        make_document(together, title=f"together {i}")
        make_document(scattered, title=f"scattered {i}")
    for i, text in enumerate(OTHERS):
        make_document(text, title=f"other {i}")
    for i, (query, _, _) in enumerate(PHRASES):
        hits = fresh_index.search(query, k=3)
        assert [h.document_title for h in hits[:2]] == [f"together {i}", f"scattered {i}"], query
        scores = [h.score for h in hits]
        assert scores[0] > scores[1] and scores == sorted(scores, reverse=True)  # ranked by the score they show


@pytest.mark.usefixtures("fresh_index")
def test_the_best_k_hits_are_the_first_k_of_a_longer_list(db, fresh_index):
    for i, (_, together, scattered) in enumerate(PHRASES):
        make_document(together, title=f"together {i}")
        make_document(scattered, title=f"scattered {i}")
    for i, text in enumerate(OTHERS):
        make_document(text, title=f"other {i}")
    for query, _, _ in PHRASES:
        deep = fresh_index.search(query, k=6)
        for k in (1, 2, 3):
            assert fresh_index.search(query, k=k) == deep[:k]


@pytest.mark.usefixtures("fresh_index")
def test_hits_that_cannot_rise_into_the_top_k_are_not_read(db, fresh_index, monkeypatch):
    # Past the first k, a hit is read (and re-scored) only if it holds enough of the query's terms to hold a
    # pair: the others keep their places behind the first k, so reading them changes nothing.
    for i, (_, together, scattered) in enumerate(PHRASES):
        make_document(together, title=f"together {i}")
        make_document(scattered, title=f"scattered {i}")
    for i, text in enumerate(OTHERS):
        make_document(text, title=f"other {i}")
    read: list[int] = []
    fetch = stored_rows.fetch_hits
    monkeypatch.setattr(stored_rows, "fetch_hits", lambda ids, *rest: read.extend(ids) or fetch(ids, *rest))
    for query, _, _ in PHRASES:
        read.clear()
        hits = fresh_index.search(query, k=1)
        texts = dict(Chunk.objects.filter(pk__in=read).values_list("pk", "text"))
        words = set(terms(query))
        assert all(len(words & set(terms(texts[pk]))) >= 2 for pk in read[1:]), query
        with monkeypatch.context() as everything:
            everything.setattr(QueryPairs, "least_terms", 0)  # read every one of the best fused hits
            read.clear()
            assert fresh_index.search(query, k=1) == hits
            assert len(read) > len(texts)  # some hits were not worth reading


def test_a_query_of_many_short_words_costs_little_to_re_score():
    # A hostile 500-character query of two-letter words has ~160 distinct terms: re-scoring 20 long chunks
    # with it must stay a matter of milliseconds (it once took a quarter of a second of CPU per search).
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [a + b for a in letters for b in letters][:400]
    pairs = query_pairs(terms(" ".join(words)[:500]))
    text = " ".join(words[(i * 7) % 160] for i in range(700)) + " aa ab"  # every term, one pair in order
    started = time.process_time()
    found = [pairs.found_in(text) for _ in range(20)]
    assert time.process_time() - started < 0.1
    assert found[0] == 1
