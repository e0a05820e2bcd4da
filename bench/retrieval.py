"""Vector search speed at 100,000 chunks x 1,536 dimensions, on SQLite and on MariaDB.

    .venv/bin/python bench/retrieval.py                      # both: a temp SQLite file, then MariaDB
    .venv/bin/python bench/retrieval.py --database-url URL   # one database (it is emptied and filled)

Fills its own database (a temporary SQLite file; `ragchat_index_bench` on MariaDB, or MARIADB_BENCH_URL) with
1,000 ready documents of 100 chunks each, random normalised float32 vectors bulk-inserted as the project
stores them, and chunk texts of 150-300 words drawn Zipf-wise from a 20,000-word vocabulary (English stop
words at the top ranks, as in real text), with their term counts packed as ingest packs them. Then it prints:
- query p50/p99 for k=5 through the project's index (ChunkIndex.search_vector: change check, one
  matrix-vector product, partial sort, fetch of the 5 rows), next to the floor: bare numpy `M @ q`; a hybrid
  query stage by stage, with what the word-pair re-score adds (fetching 20 rows instead of 5, re-scoring them);
- the per-query change check (one IndexState row) against the aggregate it replaced;
- the naive method: decode every stored JSON vector and compute cosines per query (sampled, extrapolated);
- cold load of the index from the database: vectors only; with the BM25 side built from the stored term
  counts; and with it built by re-tokenising every text (what a chunk without stored terms costs); and a
  cold start from a snapshot file another process wrote (knowledge/snapshot.py);
- what the next query pays to see one newly ingested document, and one deleted (its sync, timed apart);
- bytes stored per chunk, and peak memory (ru_maxrss).
"""

import argparse
import hashlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOCS, CHUNKS_PER_DOC, DIMS, K = 1_000, 100, 1_536, 5
QUERIES = 200
MODEL = "bench-random-1536"
MARIADB_URL = os.environ.get("MARIADB_BENCH_URL", "mysql://root@127.0.0.1:3306/ragchat_index_bench")
VOCABULARY, WORDS_PER_CHUNK = 20_000, (150, 300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="run against this database only (it is emptied)")
    parser.add_argument("--docs", type=int, default=DOCS, help=f"documents of {CHUNKS_PER_DOC} chunks (default {DOCS})")
    args = parser.parse_args()
    if args.database_url:
        return run(args.database_url, args.docs)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ragchat-bench-") as tmp:
        subprocess.run([sys.executable, __file__, "--database-url", f"sqlite:///{tmp}/bench.sqlite3",
                        "--docs", str(args.docs)], check=True)
    if _mariadb_is_up():
        subprocess.run([sys.executable, __file__, "--database-url", MARIADB_URL, "--docs", str(args.docs)], check=True)
    else:
        print("\nMariaDB is not answering on 127.0.0.1:3306: skipped (scripts/mariadb-up.sh starts it).")
    print(f"\nTotal bench time: {time.perf_counter() - started:.0f} s")


def run(url: str, docs: int = DOCS) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    import logging

    import django

    if url.startswith("mysql"):
        _create_mariadb_database(url)
    django.setup()
    logging.disable(logging.INFO)
    from unittest import mock

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count, Max, Sum

    from knowledge import index_state
    from knowledge.index import ChunkIndex
    from knowledge.lexical import terms
    from knowledge.models import Chunk, ChunkTerms, ChunkVector, Document

    settings.INDEX_SNAPSHOT_DIR = ""  # loads from the database unless a snapshot folder is named below
    call_command("migrate", verbosity=0)
    print(f"\n=== {connection.vendor}: {docs:,} documents x {CHUNKS_PER_DOC} chunks = {docs * CHUNKS_PER_DOC:,} "
          f"chunks of {DIMS} dims ===")
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    Document.objects.all().delete()
    for doc in range(docs):
        _insert_document(connection, rng, f"bench-{doc}")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # as SQLite does by itself in time: fold the WAL into the file
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"bulk insert: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT AVG(LENGTH(text)) FROM {Chunk._meta.db_table}")
        text_bytes = float(cursor.fetchone()[0])
        cursor.execute(f"SELECT AVG(LENGTH(terms)) FROM {ChunkTerms._meta.db_table}")
        terms_bytes = float(cursor.fetchone()[0])
        cursor.execute(f"SELECT AVG(LENGTH(vector)) FROM {ChunkVector._meta.db_table}")
        vector_bytes = float(cursor.fetchone()[0])
        on_disk = ""
        if connection.vendor == "mysql":
            # InnoDB keeps a row in its page only up to ~8 KB: the narrow vector rows stay in their pages.
            cursor.execute("SELECT data_length FROM information_schema.tables WHERE table_schema = DATABASE() "
                           "AND table_name = %s", [ChunkVector._meta.db_table])
            on_disk = f"; vector table on disk {int(cursor.fetchone()[0]) / (docs * CHUNKS_PER_DOC):.0f} per chunk"
    print(f"bytes per chunk: text {text_bytes:.0f}, terms {terms_bytes:.0f} "
          f"({(terms_bytes - 10) / 10:.0f} distinct terms), vector {vector_bytes:.0f}{on_disk}")

    loads = []
    for _ in range(3):  # the machine is shared: the median of three cold loads
        started = time.perf_counter()
        index = ChunkIndex(model=MODEL, lexical=False)
        index.search_vector(_unit(rng), K)
        loads.append(time.perf_counter() - started)
    print(f"cold load, vectors only:        {statistics.median(loads):6.2f} s  (median of 3: "
          f"{', '.join(f'{t:.2f}' for t in loads)}; {index.size:,} rows)")
    query_words = _query_words(rng)
    started = time.perf_counter()
    with mock.patch("knowledge.stored_rows.is_current_terms", return_value=False):  # as if no terms were stored
        ChunkIndex(model=MODEL).search_vector(_unit(rng), K, text=query_words())
    retokenised = time.perf_counter() - started
    started = time.perf_counter()
    hybrid = ChunkIndex(model=MODEL)
    hybrid.search_vector(_unit(rng), K, text=query_words())
    stored = time.perf_counter() - started
    print(f"cold load, vectors + BM25 from stored terms:        {stored:6.2f} s")
    print(f"cold load, vectors + BM25 by re-tokenising text:    {retokenised:6.2f} s  "
          f"({retokenised / stored:.1f}x; the BM25 side alone: {stored - statistics.median(loads):.2f} s "
          f"vs {retokenised - statistics.median(loads):.2f} s)")
    with tempfile.TemporaryDirectory(prefix="ragchat-snapshots-") as folder:
        started = time.perf_counter()
        ChunkIndex(model=MODEL, snapshot_dir=Path(folder)).search_vector(_unit(rng), K, text=query_words())
        answering = time.perf_counter() - started
        wait_for_snapshot()
        written = time.perf_counter() - started
        started = time.perf_counter()
        mapped = ChunkIndex(model=MODEL, snapshot_dir=Path(folder))
        mapped.search_vector(_unit(rng), K, text=query_words())
        print(f"cold start, vectors + BM25, first process: answers after {answering:6.2f} s (reads the database), "
              f"its snapshot is written after {written:6.2f} s")
        print(f"cold start, vectors + BM25, next processes (map the snapshot, check the database):    "
              f"{time.perf_counter() - started:6.2f} s  ({mapped.size:,} rows)")
        del mapped

    ready = Document.objects.filter(status=Document.Status.READY)
    check, aggregate = _timings([lambda _: index_state.served(),
                                 lambda _: ready.aggregate(n=Count("id"), last=Max("updated_at"), ids=Sum("id"))],
                                range(QUERIES))
    print(f"change check per query: IndexState row p50 {_ms(check, 50)}  p99 {_ms(check, 99)}; "
          f"the former aggregate over ready documents p50 {_ms(aggregate, 50)}  p99 {_ms(aggregate, 99)}")

    queries = [_unit(rng) for _ in range(QUERIES)]
    texts = iter([query_words() for _ in range(2 * QUERIES)])
    view = index._held.vectors.view()
    matrix = view.base
    ours, floor, fused = _timings([lambda q: index.search_vector(q, K), lambda q: matrix @ q,
                                   lambda q: hybrid.search_vector(q, K, text=next(texts))], queries)
    print(f"query k={K}, project index:     p50 {_ms(ours, 50)}  p99 {_ms(ours, 99)}")
    print(f"floor, bare numpy M @ q:        p50 {_ms(floor, 50)}  p99 {_ms(floor, 99)}   "
          f"ratio p50 {statistics.median(ours) / statistics.median(floor):.2f}x")
    print(f"query k={K}, hybrid (+BM25, 3 words): p50 {_ms(fused, 50)}  p99 {_ms(fused, 99)}")
    print(f"naive, JSON decode + cosine:    {_naive(connection, queries[0]):8.0f} ms per query (extrapolated)")
    if view.quantized is not None:
        found = [len(set(np.argpartition(-(matrix @ q), 10)[:10].tolist()) &
                     set(np.argpartition(-view.cosine(q), 10)[:10].tolist())) / 10 for q in queries]
        print(f"the index scans int8 codes ({view.quantized.codes.nbytes / 2**20:.0f} MiB) and rescores the best in "
              f"float32: recall@10 against float32 {statistics.mean(found):.4f} (min {min(found):.1f})")
    _breakdown(hybrid, queries, query_words)
    batch = np.stack(queries[:8], axis=1)
    one_by_one, batched = _timings([lambda _: [matrix @ q for q in queries[:8]], lambda _: matrix @ batch], range(20))
    print(f"8 concurrent queries: 8 x M @ q p50 {_ms(one_by_one, 50)}; one M @ Q (1,536 x 8) p50 {_ms(batched, 50)} "
          f"({statistics.median(one_by_one) / statistics.median(batched):.1f}x the throughput)")

    # What the next query pays to see a new document: its sync (the change check, listing the ready documents,
    # reading and adding the document's rows) against a sync that finds nothing new. Timed apart from the
    # matrix product, whose noise on a shared machine is larger than the figure itself. The median of five.
    extra, extra_hybrid, inserts = [], [], []
    for round_ in range(5):
        started = time.perf_counter()
        new = _insert_document(connection, rng, f"bench-new-{round_}")
        inserts.append(time.perf_counter() - started)
        for searcher, out in ((index, extra), (hybrid, extra_hybrid)):
            out.append(_sync_time(searcher) - _sync_time(searcher))
        new_vector = ChunkVector.objects.filter(document_id=new).first().array.astype(np.float32)
        new_words = " ".join(terms(Document.objects.get(id=new).chunks.first().text)[:3])
        assert new in {h.document_id for h in index.search_vector(new_vector, K)}, "the new document was not found"
        assert new in {h.document_id for h in hybrid.search_vector(new_vector, K, text=new_words)}, "not found"
    print(f"next query after 1 new document ({CHUNKS_PER_DOC} chunks): {statistics.median(extra) * 1000:+6.1f} ms "
          f"(its sync, against one that finds nothing; median of 5; the insert took "
          f"{statistics.median(inserts) * 1000:.0f} ms)")
    print(f"  the same, hybrid (+BM25):     {statistics.median(extra_hybrid) * 1000:+6.1f} ms")
    Document.objects.filter(id=new).delete()
    gone = _sync_time(index) - _sync_time(index)
    assert all(h.document_id != new for h in index.search_vector(new_vector, K)), "the deleted document was found"
    print(f"next query after 1 deletion:    {gone * 1000:+6.1f} ms (its sync, as above)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss):        {peak:6.0f} MiB  (matrix {matrix.nbytes / 2**20:.0f} MiB)")


def _sync_time(index) -> float:
    with index._lock:
        started = time.perf_counter()
        index.sync()
        return time.perf_counter() - started


def wait_for_snapshot() -> None:
    """Until the snapshot a first process writes from a thread is written (knowledge/index.py)."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "ragchat-index-snapshot":
            thread.join()


def _breakdown(index, queries, query_words) -> None:
    """Where a hybrid query's time goes, stage by stage (p50 over the queries), and a profile of the whole."""
    import cProfile
    import pstats

    from knowledge import index_state, stored_rows, word_pairs
    from knowledge.embeddings import HashedEmbedder
    from knowledge.lexical import terms
    from knowledge.ranking import query_weights, rank

    held = index._held
    view = held.vectors.view()
    embedder = HashedEmbedder()  # the hashed fallback's query embedding (1,024 dims: timed on its own)
    texts = [query_words() for _ in queries]
    fetch_read = f"fetch the hits that can make the top {K} (of the {word_pairs.RESCORE_DEPTH} best)"
    stages = {name: [] for name in ("change check", "tokenise + idf weights", "embed the query (local)",
                                    "BM25 scores", "vector scores", "rank + fuse",
                                    fetch_read, "re-score by word pairs",
                                    "fetch the 5 hits (before)")}
    for i, (vector, text) in enumerate(zip(queries, texts, strict=True)):
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            stages[name].append(now - clock)
            clock = now

        index_state.served()
        lap("change check")
        words = terms(text)
        weights = query_weights(words, held.lexical)
        lap("tokenise + idf weights")
        embedder.embed_query(text, weights)
        lap("embed the query (local)")
        terms_held = np.zeros(view.n, dtype=np.uint16)
        lexical = held.lexical.scores(words, view.n, held=terms_held)
        lap("BM25 scores")
        cosine = view.cosine(vector)
        lap("vector scores")
        ranked = rank(cosine, lexical, max(K, word_pairs.RESCORE_DEPTH), min_score=None, need_shared_word=False)
        lap("rank + fuse")
        # What a query fetched before the re-score (not part of a query now): the difference is its cost. The
        # second fetch finds its rows read already, so every other query fetches the 5 first.
        if i % 2:
            stored_rows.fetch_hits(view.chunk_ids(ranked.rows[:K]), ranked.scores[:K], ranked.cosines[:K])
            stages["fetch the 5 hits (before)"].append(time.perf_counter() - clock)
            clock = time.perf_counter()
        pairs = word_pairs.query_pairs(words)
        read = (word_pairs.worth_reading(ranked.rows, K, terms_held, pairs) if pairs is not None
                else range(min(K, len(ranked.rows))))
        hits = stored_rows.fetch_hits(view.chunk_ids([ranked.rows[n] for n in read]),
                                      [ranked.scores[n] for n in read], [ranked.cosines[n] for n in read])
        lap(fetch_read)
        word_pairs.rescored(hits, pairs)[:K] if pairs is not None else hits
        lap("re-score by word pairs")
        if not i % 2:
            stored_rows.fetch_hits(view.chunk_ids(ranked.rows[:K]), ranked.scores[:K], ranked.cosines[:K])
            lap("fetch the 5 hits (before)")
    print("a hybrid query, stage by stage (p50): " +
          "; ".join(f"{name} {statistics.median(times) * 1000:.2f} ms" for name, times in stages.items()))
    fetched, rescored, before = (np.array(stages[name]) for name in list(stages)[-3:])
    added = fetched + rescored - before
    print(f"added by the word-pair re-score (fetching up to {word_pairs.RESCORE_DEPTH} rows instead of {K}, and "
          f"re-scoring them): p50 {np.median(added) * 1000:.2f} ms, p90 {np.percentile(added, 90) * 1000:.2f} ms")
    profile = cProfile.Profile()
    profile.enable()
    for vector, text in zip(queries[:50], texts, strict=False):
        index.search_vector(vector, K, text=text)
    profile.disable()
    print("profile of 50 hybrid queries through ChunkIndex.search_vector (top 8 by own time):")
    stats = pstats.Stats(profile).sort_stats("tottime")
    for func in stats.fcn_list[:8]:
        _, calls, own, total, _ = stats.stats[func]
        print(f"  {own * 1000 / 50:7.2f} ms/query own, {total * 1000 / 50:7.2f} cumulative  "
              f"{Path(func[0]).name}:{func[1]} {func[2]} ({calls // 50} calls/query)")


def _insert_document(connection, rng, title: str) -> int:
    from django.db import transaction

    from knowledge.models import Chunk, Document

    with transaction.atomic():  # as ingest does: a document is ready in the same transaction as its chunks
        return _insert_rows(connection, rng, title, Document, Chunk)


def _insert_rows(connection, rng, title, Document, Chunk) -> int:
    from knowledge.lexical import pack_terms
    from knowledge.models import ChunkTerms, ChunkVector

    document = Document.objects.create(title=title, filename=f"{title}.txt", content_type="text/plain",
                                       sha256=hashlib.sha256(title.encode()).hexdigest(), status=Document.Status.READY,
                                       chunk_count=CHUNKS_PER_DOC)
    vectors = rng.standard_normal((CHUNKS_PER_DOC, DIMS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = _texts(rng, CHUNKS_PER_DOC)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Chunk._meta.db_table} (document_id, position, text, start_char, end_char, page, "
            "token_count) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(document.id, position, text, 0, 0, None, len(text.split())) for position, text in enumerate(texts)])
        ids = list(Chunk.objects.filter(document=document).order_by("position").values_list("id", flat=True))
        cursor.executemany(f"INSERT INTO {ChunkVector._meta.db_table} (model, chunk_id, document_id, vector) "
                           "VALUES (%s, %s, %s, %s)",
                           [(MODEL, cid, document.id, vectors[i].astype("<f4").tobytes()) for i, cid in enumerate(ids)])
        cursor.executemany(f"INSERT INTO {ChunkTerms._meta.db_table} (chunk_id, document_id, terms) "
                           "VALUES (%s, %s, %s)",
                           [(cid, document.id, pack_terms(texts[i])) for i, cid in enumerate(ids)])
    return document.id


def _vocabulary() -> tuple[np.ndarray, np.ndarray]:
    """(words, Zipf probabilities): English stop words at the top ranks, then made-up words of 1-4 syllables,
    some with an inflection (so the stemmer has work), 20,000 in all. The same every run."""
    from knowledge.lexical import STOP_WORDS

    rng = np.random.default_rng(1)
    words = sorted(STOP_WORDS, key=lambda w: (len(w), w))
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    endings = ["", "", "", "", "s", "ing", "ed", "ly", "ation", "ness", "ment"]
    seen = set(words)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice(syllables, rng.integers(1, 5))) + str(rng.choice(endings))
        if word not in seen:
            seen.add(word)
            words.append(word)
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    return np.array(words), weights / weights.sum()


_WORDS, _ZIPF = _vocabulary()


def _texts(rng, n: int) -> list[str]:
    lengths = rng.integers(WORDS_PER_CHUNK[0], WORDS_PER_CHUNK[1] + 1, n)
    drawn = _WORDS[rng.choice(VOCABULARY, int(lengths.sum()), p=_ZIPF)]
    return [" ".join(part) for part in np.split(drawn, np.cumsum(lengths)[:-1])]


def _query_words(rng):
    """Three-word queries of content words (past the stop words), Zipf-distributed like the texts."""
    from knowledge.lexical import STOP_WORDS

    content = np.arange(len(STOP_WORDS), VOCABULARY)
    p = _ZIPF[content] / _ZIPF[content].sum()
    return lambda: " ".join(_WORDS[rng.choice(content, 3, p=p)])


def _naive(connection, query: np.ndarray, sample: int = 2_000) -> float:
    """What the seed did: vectors stored as JSON text, decoded and compared one by one for every query."""
    from knowledge.models import ChunkVector

    blobs = list(ChunkVector.objects.values_list("vector", flat=True)[:sample])
    stored = [json.dumps(np.frombuffer(b, dtype="<f4").tolist()) for b in blobs]  # as the seed stored them
    started = time.perf_counter()
    for text in stored:
        vector = np.array(json.loads(text), dtype=np.float32)
        float(vector @ query / (np.linalg.norm(vector) * np.linalg.norm(query)))
    per_row = (time.perf_counter() - started) / len(stored)
    return per_row * DOCS * CHUNKS_PER_DOC * 1000


def _unit(rng) -> np.ndarray:
    vector = rng.standard_normal(DIMS, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _timings(functions, queries) -> list[list[float]]:
    """Seconds per call of each function, interleaved query by query so that both see the same machine load."""
    out: list[list[float]] = [[] for _ in functions]
    for query in queries:
        for fn, times in zip(functions, out, strict=True):
            started = time.perf_counter()
            fn(query)
            times.append(time.perf_counter() - started)
    return out


def _ms(timings: list[float], percentile: int) -> str:
    return f"{np.percentile(timings, percentile) * 1000:6.2f} ms"


def _mariadb_is_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 3306), timeout=2).close()
        return True
    except OSError:
        return False


def _create_mariadb_database(url: str) -> None:
    import MySQLdb

    name = url.rsplit("/", 1)[1]
    db = MySQLdb.connect(host="127.0.0.1", user="root", port=3306)
    db.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    db.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    db.close()


if __name__ == "__main__":
    main()
