"""The in-memory index follows the database: new documents are found by the next query, deleted ones never again."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from knowledge.bm25 import BM25Rows, Postings
from knowledge.embeddings import get_embedder
from knowledge.lexical import pack_terms, terms, unpack_many
from knowledge.models import Chunk, ChunkTerms, ChunkVector, Document
from knowledge.services import document_delete
from tests.factories import make_document

pytestmark = pytest.mark.usefixtures("fresh_index")

VOLCANO = "Volcanoes erupt when magma rises through the crust. Basalt lava flows are runny and hot."
BAKING = "Sourdough bread needs a starter culture of wild yeast. Bake it in a very hot oven."
ORBITS = "Planets follow elliptical orbits around the sun, as Kepler described in his laws."


def titles(hits):
    return [h.document_title for h in hits]


def test_best_match_comes_first(db):
    for title, text in [("Volcano", VOLCANO), ("Baking", BAKING), ("Orbits", ORBITS)]:
        make_document(text, title=title)
    from knowledge.index import search

    hits = search("how does magma make a volcano erupt", k=3)
    assert titles(hits)[0] == "Volcano"
    assert "magma" in hits[0].text and hits[0].position == 0
    assert titles(search("very hot lava from a volcano", k=3)) == ["Volcano", "Baking", "Orbits"]


def test_with_the_hashed_embedder_only_passages_sharing_a_word_are_found(db, settings):
    settings.EMBEDDING_BACKEND = "hashed"
    for title, text in [("Volcano", VOLCANO), ("Baking", BAKING), ("Orbits", ORBITS)]:
        make_document(text, title=title)
    from knowledge.index import search

    assert titles(search("how does magma make a volcano erupt", k=3)) == ["Volcano"]
    hits = search("very hot lava from a volcano", k=3)
    assert titles(hits) == ["Volcano", "Baking"] and hits[0].score > hits[1].score


def test_a_query_on_an_unchanged_knowledge_base_costs_two_database_round_trips(db, fresh_index):
    from django.test.utils import CaptureQueriesContext

    make_document(VOLCANO, title="Volcano")
    fresh_index.search("volcano magma")  # the first query loads the rows
    with CaptureQueriesContext(connection) as queries:
        assert titles(fresh_index.search("volcano magma")) == ["Volcano"]
    # The change check, then the k hits' rows: nothing else on the hot path.
    assert len(queries) == 2, [q["sql"] for q in queries]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query planner")
def test_the_best_hits_rows_are_read_by_chunk_id_however_many(db):
    from knowledge.stored_rows import _hits_sql

    for count in (5, 20, 50):  # a search fetches its 20 best fused hits to re-score them
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {_hits_sql(count)}", [*range(1, count + 1), Document.Status.READY])
            plan = [row[-1] for row in cursor.fetchall()]
        assert plan[0].startswith("SEARCH c USING INTEGER PRIMARY KEY"), plan


def test_new_document_is_found_by_the_next_query_and_deleted_one_never_again(db, fresh_index):
    make_document(BAKING, title="Baking")
    assert titles(fresh_index.search("volcano magma")) == ["Baking"] or not fresh_index.search("volcano magma")
    volcano = make_document(VOLCANO, title="Volcano")
    assert titles(fresh_index.search("volcano magma"))[0] == "Volcano"
    document_delete(document=volcano)
    assert "Volcano" not in titles(fresh_index.search("volcano magma", k=10))
    assert fresh_index.size == Chunk.objects.count()


def test_only_changed_documents_are_loaded(db, fresh_index, monkeypatch):
    make_document(BAKING, title="Baking")
    fresh_index.search("bread")
    loaded = []
    original = fresh_index._load
    monkeypatch.setattr(fresh_index, "_load", lambda ids, updated: (loaded.append(list(ids)), original(ids, updated)))
    volcano = make_document(VOLCANO, title="Volcano")
    fresh_index.search("bread")
    fresh_index.search("bread")  # nothing changed: no load at all
    assert loaded == [[volcano.id]]


def test_documents_that_are_not_ready_are_not_searched(db, fresh_index):
    document = make_document(VOLCANO, title="Volcano")
    assert fresh_index.search("magma")
    document.status = Document.Status.PROCESSING
    document.save()
    assert fresh_index.search("magma") == []


def test_chunks_of_another_embedding_model_are_not_searched(db, fresh_index):
    document = make_document(VOLCANO, title="Volcano")
    ChunkVector.objects.filter(document=document).update(model="some-other-model")
    document.save()
    assert fresh_index.search("magma") == []


def test_reembedded_document_replaces_its_rows(db, fresh_index):
    document = make_document(VOLCANO, title="Volcano")
    fresh_index.search("magma")
    chunk = document.chunks.get()
    chunk.text = "Glaciers carve valleys out of granite."
    chunk.save()
    ChunkVector.objects.filter(chunk=chunk).update(vector=ChunkVector.pack(get_embedder().embed([chunk.text])[0]))
    ChunkTerms.objects.filter(chunk=chunk).update(terms=pack_terms(chunk.text))
    document.save()
    assert fresh_index.size == 1
    assert fresh_index.search("glaciers granite valleys")[0].text.startswith("Glaciers")
    assert fresh_index.size == 1


def test_min_score_drops_weak_matches(db, fresh_index):
    make_document(VOLCANO, title="Volcano")
    assert fresh_index.search("magma basalt lava", min_score=0.1)
    assert fresh_index.search("unrelated quantum chromodynamics", min_score=0.1) == []


def test_search_by_vector_ranks_by_cosine(db, fresh_index):
    make_document(VOLCANO, title="Volcano")
    make_document(ORBITS, title="Orbits")
    vector = get_embedder().embed([ORBITS])[0]
    hits = fresh_index.search_vector(vector, k=2)
    assert titles(hits) == ["Orbits", "Volcano"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-3)


def test_many_deletions_compact_the_matrix_and_keep_results_right(db, fresh_index):
    documents = [make_document(f"Topic number {i} talks about item{i} only.", title=f"T{i}") for i in range(30)]
    fresh_index.search("item1")
    for document in documents[:25]:
        document_delete(document=document)
    fresh_index.search("item1")  # sees the deletions: rows masked
    fresh_index._rebase()  # what a sync does once a quarter of the rows are dead (1024+)
    assert fresh_index.size == 5
    assert titles(fresh_index.search("item27", k=1)) == ["T27"]
    assert all(t in {"T25", "T26", "T27", "T28", "T29"} for t in titles(fresh_index.search("topic", k=10)))


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_document_ingested_and_deleted_by_another_process_is_seen(fresh_index, tmp_path):
    make_document(BAKING, title="Baking")
    assert "Volcano notes" not in titles(fresh_index.search("magma basalt"))
    env = {**os.environ, "DATABASE_URL": _database_url()}
    manage = Path(settings.BASE_DIR) / "manage.py"

    def in_other_process(code: str) -> None:
        result = subprocess.run([sys.executable, str(manage), "shell", "-c", code], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr

    (tmp_path / "volcano.txt").write_text(VOLCANO)
    result = subprocess.run([sys.executable, str(manage), "ingest", "--inline", str(tmp_path / "volcano.txt"),
                             "--title", "Volcano notes"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert titles(fresh_index.search("magma basalt"))[0] == "Volcano notes"
    code = ("from knowledge.models import Document; from knowledge.services import document_delete; "
            "document_delete(document=Document.objects.get(title='Volcano notes'))")
    in_other_process(code)
    assert "Volcano notes" not in titles(fresh_index.search("magma basalt", k=10))


def test_empty_index_answers_nothing(db, fresh_index):
    assert fresh_index.search("anything") == []
    assert fresh_index.search_vector(np.ones(get_embedder().dims, np.float32)) == []


def test_bm25_rows_score_the_same_before_and_after_a_rebuild():
    texts = ["magma rises in volcanoes", "bread needs yeast", "volcanoes erupt lava and magma", "yeast and flour"]
    bm25 = BM25Rows()
    bm25.add([0], *unpack_many([pack_terms(texts[0])]))  # a first small batch: kept as the tail
    for row, text in enumerate(texts[1:], start=1):
        bm25.add([row], *unpack_many([pack_terms(text)]))
    tail_only = bm25.scores(terms("magma volcano"), 4)
    built = BM25Rows(Postings.build(*bm25.held()))
    assert np.allclose(built.scores(terms("magma volcano"), 4), tail_only)
    assert tail_only[0] > 0 and tail_only[2] > 0 and tail_only[1] == tail_only[3] == 0
    assert tail_only[0] > tail_only[2]  # the shorter passage, same matches


def test_bm25_removed_rows_stop_counting_and_renumbering_keeps_scores():
    bm25 = BM25Rows()
    texts = ["rare word zyzzyva", "common word", "common word again", "zyzzyva common"]
    bm25.add(range(4), *unpack_many([pack_terms(text) for text in texts]))
    before = bm25.scores(["zyzzyva"], 4)[3]
    bm25.remove(0)
    after = bm25.scores(["zyzzyva"], 4)
    assert after[3] > before  # now 1 row in 3 holds the word, not 2 in 4: it is rarer, so it weighs more
    renumbered = BM25Rows(Postings.build(*bm25.held(np.array([-1, 0, 1, 2])))).scores(["zyzzyva"], 3)
    assert renumbered[2] == pytest.approx(after[3]) and renumbered[:2].tolist() == [0, 0]


@pytest.mark.django_db(transaction=True)
def test_queries_from_many_threads_while_documents_arrive(fresh_index):
    make_document(BAKING, title="Baking")
    errors, rounds = [], []
    stop = threading.Event()

    def searcher():
        try:
            while not stop.is_set():
                hits = fresh_index.search("volcano magma bread", k=20)
                assert len({h.chunk_id for h in hits}) == len(hits)
                rounds.append(len(hits))
        except Exception as exc:  # reported below, with the thread's failure
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(8):
        make_document(f"Volcano number {i}: magma rises and erupts as lava.", title=f"Volcano {i}")
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors and rounds
    assert len(fresh_index.search("volcano magma bread", k=20)) == 9
    assert fresh_index.size == 9


def test_with_the_hashed_embedder_a_query_sharing_no_word_finds_nothing(db, fresh_index, settings):
    settings.EMBEDDING_BACKEND = "hashed"
    make_document(VOLCANO, title="Volcano")
    make_document(BAKING, title="Baking")
    assert fresh_index.search("airspeed of an unladen swallow", k=5) == []
    assert titles(fresh_index.search("swallow some lava", k=5)) == ["Volcano"]


def test_a_tiny_knowledge_base_answers_questions_with_words_it_does_not_hold(db, fresh_index, settings):
    make_document("Employee handbook\n\nEvery employee has twenty-five days of paid leave per year. "
                  "Leave requests go to your manager at least two weeks ahead.", title="Handbook")
    hits = fresh_index.search("How much leave do I get?", min_score=settings.RAG_MIN_SCORE)
    assert titles(hits) == ["Handbook"]


def test_chunks_without_stored_terms_are_still_found_by_their_words(db, fresh_index, settings):
    settings.EMBEDDING_BACKEND = "hashed"  # a chunk must share a word: what BM25 finds is all there is
    volcano = make_document(VOLCANO, title="Volcano")
    make_document(BAKING, title="Baking")
    ChunkTerms.objects.filter(document=volcano).delete()  # as written before term counts were stored
    stale = bytearray(pack_terms(BAKING))
    stale[8] = 0  # terms of another format (an older tokeniser)
    ChunkTerms.objects.filter(document__title="Baking").update(terms=bytes(stale))
    assert titles(fresh_index.search("basalt lava")) == ["Volcano"]
    assert titles(fresh_index.search("sourdough starter")) == ["Baking"]


def test_a_cold_load_reads_stored_terms_and_tokenises_no_chunk_text(db, fresh_index, monkeypatch, settings):
    settings.EMBEDDING_BACKEND = "hashed"
    make_document(VOLCANO, title="Volcano")
    make_document(BAKING, title="Baking")

    def no_tokenising(text):
        raise AssertionError("a chunk's text was tokenised at load")

    monkeypatch.setattr("knowledge.stored_rows.pack_terms", no_tokenising)
    assert titles(fresh_index.search("basalt lava")) == ["Volcano"]


@pytest.mark.django_db(transaction=True)
def test_a_cold_load_scores_bm25_exactly_as_a_build_over_every_chunks_words(fresh_index, monkeypatch, settings):
    from knowledge import stored_rows

    settings.EMBEDDING_BACKEND = "hashed"
    monkeypatch.setattr(stored_rows, "PARALLEL_OVER", 0)  # MariaDB: ranges over parallel connections
    monkeypatch.setattr(stored_rows, "BATCH", 3)  # rows of many batches, from several threads
    for i in range(12):
        make_document(f"Document {i} is about item{i % 4} and thing{i % 3}. " * (1 + i % 3), title=f"D{i}")
    ChunkTerms.objects.filter(document__title__in=["D2", "D7"]).delete()  # tokenised from their text at load
    fresh_index.search("item1")
    held = fresh_index._held
    texts = dict(Chunk.objects.values_list("id", "text"))
    chunk_ids = held.vectors.view().base_ids
    rows = range(len(chunk_ids))
    expected = BM25Rows(Postings.build(rows, *unpack_many([pack_terms(texts[int(c)]) for c in chunk_ids])))
    for query in ["item1 thing2", "document item3", "thing0"]:
        words = terms(query)
        assert np.array_equal(held.lexical.scores(words, len(rows)), expected.scores(words, len(rows)))
