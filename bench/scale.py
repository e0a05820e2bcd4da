"""The largest knowledge base one machine serves: 1,000,000 chunks of 384-dimension local vectors.

    .venv/bin/python bench/scale.py                              # a temporary SQLite file
    .venv/bin/python bench/scale.py --database-url URL --chunks 1000000

Fills a database with 10,000 ready documents of 100 chunks each: random normalised float32 vectors of 384
dimensions (the size of the local sentence-embedding models), and 30-60-word texts drawn as in
bench/retrieval.py, with their term counts. Then it prints: the cold load from the database (vectors
and BM25) and the snapshot it writes; a second process's start from that snapshot; query p50/p99 for
vectors alone and hybrid, next to bare numpy `M @ q`; and memory (RSS, and PSS of the second process,
which maps the snapshot).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import retrieval  # noqa: E402
from bench.index_memory import smaps  # noqa: E402

DIMS, PER_DOC, MODEL, QUERIES = 384, 100, "bench-random-384", 200
WORDS = (30, 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the second process: map the snapshot in this folder
    args = parser.parse_args()
    if args.serve:
        return serve(args.database_url, Path(args.serve))
    if args.database_url:
        return run(args.database_url, args.chunks)
    with tempfile.TemporaryDirectory(prefix="ragchat-scale-") as folder:
        run(f"sqlite:///{folder}/scale.sqlite3", args.chunks)


def setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)


def run(url: str, chunks: int) -> None:
    setup(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    docs = chunks // PER_DOC
    print(f"=== {connection.vendor}: {docs:,} documents x {PER_DOC} = {docs * PER_DOC:,} chunks of {DIMS} dims ===")
    started = time.perf_counter()
    _fill(connection, docs)
    print(f"bulk insert: {time.perf_counter() - started:.0f} s", flush=True)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="ragchat-scale-snapshots-") as folder:
        _first_process(folder, rng)
        subprocess.run([sys.executable, __file__, "--database-url", url, "--serve", folder], check=True)


def _first_process(folder: str, rng) -> None:
    from knowledge.index import ChunkIndex
    from knowledge.vector_rows import RESCORE

    started = time.perf_counter()
    index = ChunkIndex(model=MODEL, snapshot_dir=Path(folder))
    words = retrieval._query_words(rng)
    index.search_vector(_unit(rng), 5, text=words())
    print(f"cold load from the database, vectors + BM25: {time.perf_counter() - started:.1f} s "
          f"({index.size:,} rows; RSS {_rss():.0f} MiB, peak {_peak():.0f} MiB)", flush=True)
    retrieval.wait_for_snapshot()
    print(f"  and its snapshot written: {time.perf_counter() - started:.1f} s", flush=True)
    queries = [_unit(rng) for _ in range(QUERIES)]
    texts = iter([words() for _ in range(QUERIES)])
    matrix = index._held.vectors.view().base
    ours, floor, hybrid = retrieval._timings(
        [lambda q: index.search_vector(q, 5), lambda q: matrix @ q,
         lambda q: index.search_vector(q, 5, text=next(texts))], queries)
    print(f"query k=5, vectors:            p50 {retrieval._ms(ours, 50)}  p99 {retrieval._ms(ours, 99)}")
    print(f"floor, bare numpy M @ q:       p50 {retrieval._ms(floor, 50)}  p99 {retrieval._ms(floor, 99)}")
    print(f"query k=5, hybrid (3 words):   p50 {retrieval._ms(hybrid, 50)}  p99 {retrieval._ms(hybrid, 99)}",
          flush=True)
    view = index._held.vectors.view()
    if view.quantized is not None:
        found = []
        for query in queries:
            exact = set(np.argpartition(-(matrix @ query), 10)[:10].tolist())
            found.append(len(exact & set(np.argpartition(-view.cosine(query), 10)[:10].tolist())) / 10)
        print(f"int8 scan + float32 rescoring of the best {RESCORE}: recall@10 against float32 "
              f"{statistics.mean(found):.4f} (min {min(found):.1f}); int8 codes "
              f"{view.quantized.codes.nbytes / 2**20:.0f} MiB vs float32 {matrix.nbytes / 2**20:.0f} MiB")


def serve(url: str, folder: Path) -> None:
    """A second process (another web worker): start from the snapshot, query, report memory."""
    setup(url)
    from knowledge.index import ChunkIndex

    rng = np.random.default_rng(2)
    started = time.perf_counter()
    index = ChunkIndex(model=MODEL, snapshot_dir=folder)
    words = retrieval._query_words(rng)
    index.search_vector(_unit(rng), 5, text=words())
    loaded = time.perf_counter() - started
    times = []
    for _ in range(QUERIES):
        vector, text = _unit(rng), words()
        clock = time.perf_counter()
        index.search_vector(vector, 5, text=text)
        times.append(time.perf_counter() - clock)
    memory = smaps(os.getpid())
    print(f"second process, start from the snapshot: {loaded:.2f} s; hybrid query p50 {retrieval._ms(times, 50)}; "
          f"RSS {memory['Rss']:.0f} MiB, PSS {memory['Pss']:.0f} MiB, private {memory['Private']:.0f} MiB "
          f"(snapshot file {sum(f.stat().st_size for f in folder.glob('*.idx')) / 2**20:.0f} MiB)")


def _fill(connection, docs: int) -> None:
    """Rows straight through the cursor, with ids given here (the database is emptied first): bulk speed."""
    from django.db import transaction
    from django.utils import timezone

    from knowledge import index_state
    from knowledge.lexical import pack_terms
    from knowledge.models import Chunk, ChunkTerms, ChunkVector, Collection, Document

    if ChunkVector.objects.filter(model=MODEL).count() == docs * PER_DOC:
        return
    Document.objects.all().delete()
    rng = np.random.default_rng(0)
    now = timezone.now()
    collection = Collection.objects.default()
    tables = {model: model._meta.db_table for model in (Document, Chunk, ChunkVector, ChunkTerms)}
    for first in range(0, docs, 50):
        batch = range(first, min(first + 50, docs))
        lengths = rng.integers(WORDS[0], WORDS[1] + 1, len(batch) * PER_DOC)
        drawn = retrieval._WORDS[rng.choice(retrieval.VOCABULARY, int(lengths.sum()), p=retrieval._ZIPF)]
        texts = [" ".join(part) for part in np.split(drawn, np.cumsum(lengths)[:-1])]
        vectors = rng.standard_normal((len(texts), DIMS), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunk_rows, vector_rows, term_rows = [], [], []
        for i, text in enumerate(texts):
            doc, position = first + i // PER_DOC + 1, i % PER_DOC
            chunk_id = (doc - 1) * PER_DOC + position + 1
            chunk_rows.append((chunk_id, doc, position, text, 0, 0, None, 0))
            vector_rows.append((MODEL, chunk_id, doc, vectors[i].astype("<f4").tobytes()))
            term_rows.append((chunk_id, doc, pack_terms(text)))
        with transaction.atomic(), connection.cursor() as cursor:
            # The ORM for the documents: every column of theirs gets its default (the model grows fields).
            Document.objects.bulk_create(Document(id=d + 1, title=f"scale-{d}", content_type="text/plain",
                                                  sha256=f"{d:064d}", status=Document.Status.READY,
                                                  chunk_count=PER_DOC, collection=collection, created_at=now,
                                                  updated_at=now)
                                         for d in batch)
            cursor.executemany(f"INSERT INTO {tables[Chunk]} (id, document_id, position, text, start_char, end_char, "
                               "page, token_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", chunk_rows)
            cursor.executemany(f"INSERT INTO {tables[ChunkVector]} (model, chunk_id, document_id, vector) "
                               "VALUES (%s, %s, %s, %s)", vector_rows)
            cursor.executemany(f"INSERT INTO {tables[ChunkTerms]} (chunk_id, document_id, terms) "
                               "VALUES (%s, %s, %s)", term_rows)
        if (first + 50) % 1000 == 0:
            print(f"  {first + 50:,} documents", flush=True)
    index_state.note_change()


def _unit(rng) -> np.ndarray:
    vector = rng.standard_normal(DIMS, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _rss() -> float:
    return smaps(os.getpid())["Rss"]


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
