"""Ingest throughput, and the case for storing embeddings as packed float32 rather than JSON lists.

    .venv/bin/python bench/ingest.py                 # SQLite, then MariaDB
    .venv/bin/python bench/ingest.py --db sqlite     # one of them
    .venv/bin/python bench/ingest.py --mb 8          # more data (default: 4 MB hashed, 0.5 MB with the model)
    .venv/bin/python bench/ingest.py --backend hashed  # one embedder (default: the local model, then hashed words)

A few MB of generated prose-like text go through the real pipeline (extraction, chunking, the embedder:
the local model (`local`, batched over every core) and hashed words (`hashed`), storage:
knowledge.services.document_ingest), each database in its own process and its own database: a temporary
SQLite file, and a `ragchat_bench` MariaDB database (dropped and re-created; MARIADB_BENCH_URL overrides
mysql://root@127.0.0.1:3306/ragchat_bench). Prints figures; not a test.
"""

import argparse
import atexit
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
MARIADB_URL = os.environ.get("MARIADB_BENCH_URL", "mysql://root@127.0.0.1:3306/ragchat_bench")

WORDS = (
    "the a of and to in is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there one all we their been has more when will would who so no if out up said what "
    "its about than into them can only other new some could time these two may then do first any like now my "
    "such our over man me even most made after also did many before must through years where much your way "
    "retrieval document chunk embedding vector model answer question source citation database index search "
    "system user session knowledge passage context token prompt language server query ranking relevance "
    "report policy budget meeting customer product release quarter team engineer design review security"
).split()


def prose(rng: random.Random, n_bytes: int) -> str:
    """Sentences of 6-24 words in paragraphs of 3-8 sentences, until `n_bytes` of UTF-8."""
    paragraphs, size = [], 0
    while size < n_bytes:
        sentences = []
        for _ in range(rng.randint(3, 8)):
            words = rng.choices(WORDS, k=rng.randint(6, 24))
            words[0] = words[0].capitalize()
            if rng.random() < 0.3:
                words.insert(rng.randint(1, len(words) - 1), f"{rng.randint(1, 9999)},")
            sentences.append(" ".join(words) + rng.choice([".", ".", ".", "?", "!"]))
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def setup_django(db: str, backend: str = "local") -> None:
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="ragchat-bench-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = Path(folder) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    else:
        import MySQLdb

        url = urlparse(MARIADB_URL)
        connection = MySQLdb.connect(host=url.hostname, port=url.port or 3306, user=url.username or "root",
                                     password=url.password or "")
        name = url.path.lstrip("/")
        cursor = connection.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        connection.close()
        os.environ["DATABASE_URL"] = MARIADB_URL
    os.environ["EMBEDDING_BACKEND"] = backend
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "ragchat.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def best_of(n: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(n):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(db: str, megabytes: float, documents: int, backend: str = "local") -> None:
    setup_django(db, backend)
    import numpy as np
    from django.conf import settings
    from django.db import connection

    from knowledge.chunking import chunk_text
    from knowledge.embeddings import get_embedder
    from knowledge.extraction import extract
    from knowledge.models import ChunkVector
    from knowledge.services import document_ingest

    rng = random.Random(42)
    files = [prose(rng, int(megabytes * 1024 * 1024 / documents)).encode() for _ in range(documents)]
    total_mb = sum(len(f) for f in files) / 1024 / 1024
    embedder = get_embedder()
    embedder.embed(["warm up"])

    start = time.perf_counter()
    chunk_count = 0
    for number, data in enumerate(files):
        chunk_count += document_ingest(data=data, filename=f"bench-{number}.txt").chunk_count
    elapsed = time.perf_counter() - start

    # The same work again, phase by phase, without storing (where does the time go?).
    t_extract = t_chunk = t_embed = 0.0
    for number, data in enumerate(files):
        t0 = time.perf_counter()
        text = extract(data, f"bench-{number}.txt").text
        t1 = time.perf_counter()
        chunks = chunk_text(text, size=settings.CHUNK_SIZE, overlap=settings.CHUNK_OVERLAP)
        t2 = time.perf_counter()
        embedder.embed([c.text for c in chunks])
        t3 = time.perf_counter()
        t_extract, t_chunk, t_embed = t_extract + t1 - t0, t_chunk + t2 - t1, t_embed + t3 - t2
    t_store = max(0.0, elapsed - t_extract - t_chunk - t_embed)

    print(f"== ingest on {connection.vendor} ({embedder.model}, {embedder.dims} dims, "
          f"CHUNK_SIZE={settings.CHUNK_SIZE}, CHUNK_OVERLAP={settings.CHUNK_OVERLAP})")
    print(f"  data:        {documents} documents, {total_mb:.2f} MB of text, {chunk_count} chunks")
    print(f"  end to end:  {elapsed:.2f} s  ->  {total_mb / elapsed:.2f} MB/s, {chunk_count / elapsed:.0f} chunks/s")
    print(f"  phases:      extract {t_extract:.2f} s, chunk {t_chunk:.2f} s, embed {t_embed:.2f} s, "
          f"store+checks ~{t_store:.2f} s")

    # Embedding encodings: the same vectors stored both ways in this database and loaded back.
    stored = np.vstack([np.frombuffer(bytes(v), dtype="<f4")
                        for v in ChunkVector.objects.order_by("chunk_id").values_list("vector", flat=True)])
    compare_encodings(f"{embedder.model} vectors (sparse)", stored)
    dense = np.random.default_rng(7).standard_normal((stored.shape[0], 1536)).astype(np.float32)
    compare_encodings("dense 1536-dim vectors (like text-embedding-ada-002)", dense / np.linalg.norm(
        dense, axis=1, keepdims=True))


def compare_encodings(label: str, matrix) -> None:
    import numpy as np
    from django.db import connection, transaction

    packed = [row.astype("<f4").tobytes() for row in matrix]
    as_json = [json.dumps(row.tolist()) for row in matrix]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_packed (id INTEGER PRIMARY KEY, v LONGBLOB NOT NULL)")
        cursor.execute("CREATE TABLE bench_json (id INTEGER PRIMARY KEY, v LONGTEXT NOT NULL)")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany("INSERT INTO bench_packed (id, v) VALUES (%s, %s)", list(enumerate(packed)))
        cursor.executemany("INSERT INTO bench_json (id, v) VALUES (%s, %s)", list(enumerate(as_json)))

    def load_packed():
        with connection.cursor() as cursor:
            cursor.execute("SELECT v FROM bench_packed ORDER BY id")
            return np.vstack([np.frombuffer(bytes(row[0]), dtype="<f4") for row in cursor.fetchall()])

    def load_json():
        with connection.cursor() as cursor:
            cursor.execute("SELECT v FROM bench_json ORDER BY id")
            return np.array([json.loads(row[0]) for row in cursor.fetchall()], dtype=np.float32)

    t_packed, from_packed = best_of(3, load_packed)
    t_json, from_json = best_of(3, load_json)
    assert np.array_equal(from_packed, matrix) and np.array_equal(from_json, matrix)  # both lossless
    size_packed = sum(len(v) for v in packed) / 1024 / 1024
    size_json = sum(len(v.encode()) for v in as_json) / 1024 / 1024
    print(f"  embeddings, {label}: {matrix.shape[0]} x {matrix.shape[1]}")
    print(f"    packed float32: {size_packed:7.2f} MB, load {t_packed * 1000:7.1f} ms")
    print(f"    JSON lists:     {size_json:7.2f} MB, load {t_json * 1000:7.1f} ms   "
          f"({size_json / size_packed:.1f}x bigger, {t_json / t_packed:.0f}x slower to load)")
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_packed")
        cursor.execute("DROP TABLE bench_json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb"], help="Only this database (default: both).")
    parser.add_argument("--mb", type=float, help="Megabytes of generated text (default 4; 0.5 for the model).")
    parser.add_argument("--documents", type=int, default=8, help="Split into this many documents (default 8).")
    parser.add_argument("--backend", choices=["local", "hashed"], help="Only this embedder (default: both).")
    args = parser.parse_args()
    if args.db and args.backend:
        run(args.db, args.mb or (0.5 if args.backend == "local" else 4.0), args.documents, args.backend)
        return
    status = 0
    for backend in [args.backend] if args.backend else ["local", "hashed"]:
        for db in [args.db] if args.db else ["sqlite", "mariadb"]:
            # One process per run: Django's settings are configured once per process.
            command = [sys.executable, __file__, "--db", db, "--backend", backend, "--documents", str(args.documents)]
            status |= subprocess.call(command + (["--mb", str(args.mb)] if args.mb else []))
    sys.exit(status)


if __name__ == "__main__":
    main()
