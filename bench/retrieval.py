"""Vector search speed at 100,000 chunks x 1,536 dimensions, on SQLite and on MariaDB.

    .venv/bin/python bench/retrieval.py                      # both: a temp SQLite file, then MariaDB
    .venv/bin/python bench/retrieval.py --database-url URL   # one database (it is emptied and filled)

Fills its own database (a temporary SQLite file; `ragchat_index_bench` on MariaDB, or MARIADB_BENCH_URL) with
1,000 ready documents of 100 chunks each, random normalised float32 vectors bulk-inserted as the project
stores them, and chunk texts of 150-300 words drawn Zipf-wise from a 20,000-word vocabulary (English stop
words at the top ranks, as in real text), with their term counts packed as ingest packs them. Then it prints:
- query p50/p95 for k=5 through the project's index (ChunkIndex.search_vector: sync check, one
  matrix-vector product, partial sort, fetch of the 5 rows), next to the floor: bare numpy `M @ q`;
- the naive method: decode every stored JSON vector and compute cosines per query (sampled, extrapolated);
- cold load of the index from the database: vectors only; with the BM25 side built from the stored term
  counts; and with it built by re-tokenising every text (what a chunk without stored terms costs);
- time for the next query to see one newly ingested document, and one deleted;
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
    args = parser.parse_args()
    if args.database_url:
        return run(args.database_url)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ragchat-bench-") as tmp:
        subprocess.run([sys.executable, __file__, "--database-url", f"sqlite:///{tmp}/bench.sqlite3"], check=True)
    if _mariadb_is_up():
        subprocess.run([sys.executable, __file__, "--database-url", MARIADB_URL], check=True)
    else:
        print("\nMariaDB is not answering on 127.0.0.1:3306: skipped (scripts/mariadb-up.sh starts it).")
    print(f"\nTotal bench time: {time.perf_counter() - started:.0f} s")


def run(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    import logging

    import django

    if url.startswith("mysql"):
        _create_mariadb_database(url)
    django.setup()
    logging.disable(logging.INFO)
    from unittest import mock

    from django.core.management import call_command
    from django.db import connection

    from knowledge.index import ChunkIndex
    from knowledge.lexical import terms
    from knowledge.models import Chunk, Document

    call_command("migrate", verbosity=0)
    print(f"\n=== {connection.vendor}: {DOCS:,} documents x {CHUNKS_PER_DOC} chunks = {DOCS * CHUNKS_PER_DOC:,} "
          f"chunks of {DIMS} dims ===")
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    Document.objects.all().delete()
    for doc in range(DOCS):
        _insert_document(connection, rng, f"bench-{doc}")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # as SQLite does by itself in time: fold the WAL into the file
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"bulk insert: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT AVG(LENGTH(text)), AVG(LENGTH(terms)), AVG(LENGTH(embedding)) "
                       f"FROM {Chunk._meta.db_table}")
        text_bytes, terms_bytes, vector_bytes = (float(v) for v in cursor.fetchone())
        on_disk = ""
        if connection.vendor == "mysql":
            # InnoDB keeps a row in its page only up to ~8 KB; past that the longest column (the embedding)
            # moves to a page of its own, and a scan of the vectors reads twice the bytes.
            cursor.execute("SELECT data_length FROM information_schema.tables WHERE table_schema = DATABASE() "
                           "AND table_name = %s", [Chunk._meta.db_table])
            on_disk = f"; table on disk {int(cursor.fetchone()[0]) / (DOCS * CHUNKS_PER_DOC):.0f} per chunk"
    print(f"bytes per chunk: text {text_bytes:.0f}, terms {terms_bytes:.0f} "
          f"({(terms_bytes - 10) / 10:.0f} distinct terms), embedding {vector_bytes:.0f}{on_disk}")

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
    with mock.patch("knowledge.index.is_current_terms", return_value=False):  # as if no chunk had stored terms
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

    queries = [_unit(rng) for _ in range(QUERIES)]
    texts = iter([query_words() for _ in range(2 * QUERIES)])
    matrix = index._matrix[:index._n]
    ours, floor, fused = _timings([lambda q: index.search_vector(q, K), lambda q: matrix @ q,
                                   lambda q: hybrid.search_vector(q, K, text=next(texts))], queries)
    print(f"query k={K}, project index:     p50 {_ms(ours, 50)}  p95 {_ms(ours, 95)}")
    print(f"floor, bare numpy M @ q:        p50 {_ms(floor, 50)}  p95 {_ms(floor, 95)}   "
          f"ratio p50 {statistics.median(ours) / statistics.median(floor):.2f}x")
    print(f"query k={K}, hybrid (+BM25, 3 words): p50 {_ms(fused, 50)}  p95 {_ms(fused, 95)}")
    print(f"naive, JSON decode + cosine:    {_naive(connection, queries[0]):8.0f} ms per query (extrapolated)")

    started = time.perf_counter()
    new = _insert_document(connection, rng, "bench-new")
    insert_time = time.perf_counter() - started
    new_vector = np.frombuffer(
        Document.objects.get(id=new).chunks.first().embedding, dtype="<f4").astype(np.float32)
    started = time.perf_counter()
    hits = index.search_vector(new_vector, K)
    seen = time.perf_counter() - started
    assert hits[0].document_id == new, "the new document was not found"
    typical = statistics.median(ours)
    print(f"next query sees 1 new document ({CHUNKS_PER_DOC} chunks): {seen * 1000:6.1f} ms, "
          f"{(seen - typical) * 1000:+.1f} ms over a typical query (its insert took {insert_time * 1000:.0f} ms)")
    started = time.perf_counter()
    new_words = " ".join(terms(Document.objects.get(id=new).chunks.first().text)[:3])
    hits = hybrid.search_vector(new_vector, K, text=new_words)
    seen_hybrid = time.perf_counter() - started
    assert new in {h.document_id for h in hits}, "the new document was not found by the hybrid index"
    print(f"  the same, hybrid (+BM25):     {seen_hybrid * 1000:6.1f} ms, "
          f"{(seen_hybrid - statistics.median(fused)) * 1000:+.1f} ms over a typical hybrid query")
    Document.objects.filter(id=new).delete()
    started = time.perf_counter()
    hits = index.search_vector(new_vector, K)
    gone = time.perf_counter() - started
    assert all(h.document_id != new for h in hits), "the deleted document was found"
    print(f"next query after 1 deletion:    {gone * 1000:6.1f} ms, "
          f"{(gone - typical) * 1000:+.1f} ms over a typical query")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss):        {peak:6.0f} MiB  (matrix {matrix.nbytes / 2**20:.0f} MiB)")


def _insert_document(connection, rng, title: str) -> int:
    from django.db import transaction

    from knowledge.models import Chunk, Document

    with transaction.atomic():  # as ingest does: a document is ready in the same transaction as its chunks
        return _insert_rows(connection, rng, title, Document, Chunk)


def _insert_rows(connection, rng, title, Document, Chunk) -> int:
    document = Document.objects.create(title=title, filename=f"{title}.txt", content_type="text/plain",
                                       sha256=hashlib.sha256(title.encode()).hexdigest(), status=Document.Status.READY,
                                       chunk_count=CHUNKS_PER_DOC)
    from knowledge.lexical import pack_terms

    vectors = rng.standard_normal((CHUNKS_PER_DOC, DIMS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = _texts(rng, CHUNKS_PER_DOC)
    rows = [(document.id, position, text, 0, 0, None, len(text.split()), Chunk.pack(vectors[position]), MODEL,
             DIMS, pack_terms(text)) for position, text in enumerate(texts)]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Chunk._meta.db_table} (document_id, position, text, start_char, end_char, page, "
            "token_count, embedding, embedding_model, dims, terms) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
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
    from knowledge.models import Chunk

    blobs = list(Chunk.objects.values_list("embedding", flat=True)[:sample])
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
