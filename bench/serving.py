"""What the serving benchmarks share: a fresh database (SQLite file or MariaDB), seeded in this process, and
the production server on it (tests/production_server.py). Ports: this project's bench range 8100-8199."""

import json
import os
import random
import re
import sys
import sysconfig
import tempfile
from collections import Counter
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MARIADB_URL = os.environ.get("MARIADB_BENCH_URL", "mysql://root@127.0.0.1:3306/ragchat_prod")


def database(kind: str) -> str:
    """A DATABASE_URL for an empty database of this kind."""
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='ragchat-bench-')}/bench.sqlite3"
    import MySQLdb

    url = urlparse(MARIADB_URL)
    db = MySQLdb.connect(host=url.hostname, port=url.port or 3306, user=url.username or "root",
                         password=url.password or "")
    name = url.path.lstrip("/")
    db.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    db.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    db.close()
    return MARIADB_URL


def setup_django(database_url: str) -> None:
    os.environ.update({"DATABASE_URL": database_url, "EMBEDDING_BACKEND": "local", "LOG_LEVEL": "WARNING",
                       "DJANGO_SETTINGS_MODULE": "tests.settings"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def paragraph(rng: random.Random, words: int) -> str:
    """Text of `words` words drawn with the frequencies of real text (vocabulary()), so that BM25's postings are
    as long as a real knowledge base's: a few common words in most chunks, most words in few."""
    known, weights = vocabulary()
    return " ".join(rng.choices(known, cum_weights=weights, k=words)).capitalize() + "."


@lru_cache(maxsize=1)
def vocabulary(size: int = 20_000) -> tuple[list[str], list[int]]:
    """The `size` most frequent words of the Python standard library's source (comments, docstrings, names),
    with their cumulative counts: real technical English with its Zipf distribution. Cached in bench/data/."""
    cache = ROOT / "bench" / "data" / f"vocabulary-{size}.json"
    if not cache.exists():
        counts: Counter[str] = Counter()
        for path in Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"):
            try:
                counts.update(re.findall(r"[a-z]{3,15}", path.read_text(errors="ignore").lower()))
            except OSError:
                continue
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(counts.most_common(size)))
    ranked = json.loads(cache.read_text())
    words = [word for word, _ in ranked]
    cumulative, total = [], 0
    for _, count in ranked:
        total += count
        cumulative.append(total)
    return words, cumulative


def query_words() -> list[str]:
    """Words a search asks for: content words of middling frequency (ranks 200-5,000), as people's questions use."""
    return vocabulary()[0][200:5000]


def seed(*, sessions: int, chunks: int, messages_per_session: int = 10) -> dict:
    """Users with tokens, `sessions` sessions (with messages) for the first user, and `chunks` chunks.

    The chunks are written straight to the database, as a finished ingest leaves them (ready documents with
    chunks, term counts and vectors of the local model): ingesting 50,000 chunks through the model would take
    most of an hour. Their vectors are real: a pool of POOL paragraphs embedded by the local model, each chunk
    one of them plus a little noise, so a query costs exactly what it costs on a real knowledge base of this
    size (the same matrix and BM25 postings); ingest itself is measured by bench/ingest.py.
    """
    from rest_framework.authtoken.models import Token

    from sessions_app.models import ChatSession, Message
    from tests.factories import make_user

    rng = random.Random(8)
    users = [make_user(f"bench{n}") for n in range(2)]
    tokens = [Token.objects.create(user=u).key for u in users]
    made = ChatSession.objects.bulk_create(ChatSession(owner=users[0], name=f"Chat {n}") for n in range(sessions))
    Message.objects.bulk_create(Message(session=s, role=("user", "assistant")[m % 2], content=paragraph(rng, 60))
                                for s in made for m in range(messages_per_session))
    ChatSession.objects.filter(owner=users[0]).recount()  # bulk_create passes by the chats' message counts
    seed_chunks(chunks, owner=users[0], rng=rng)
    return {"tokens": tokens, "sessions": [str(s.id) for s in made]}


POOL = 512  # distinct paragraphs embedded by the model; every chunk's vector is one of them, perturbed
PER_DOC = 20  # chunks per document


def seed_chunks(chunks: int, *, owner, rng: random.Random) -> None:
    import hashlib

    import numpy as np
    from django.conf import settings
    from django.db import transaction

    from knowledge import index_state
    from knowledge.embeddings import get_embedder
    from knowledge.lexical import pack_terms
    from knowledge.models import Chunk, ChunkTerms, ChunkVector, Document, IndexState

    embedder = get_embedder()
    words = int(settings.CHUNK_SIZE / 1.3 * 0.8)
    texts = [paragraph(rng, words) for _ in range(POOL)]
    pool = embedder.embed(texts)
    terms = [pack_terms(text) for text in texts]
    noise = np.random.default_rng(3)
    for first in range(0, chunks, PER_DOC):
        picks = [rng.randrange(POOL) for _ in range(min(PER_DOC, chunks - first))]
        vectors = pool[picks] + noise.normal(0, 0.02, (len(picks), pool.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        body = "\n\n".join(texts[i] for i in picks)
        with transaction.atomic():
            document = Document.objects.create(
                title=f"Document {first // PER_DOC}", content_type="text/plain", size=len(body),
                sha256=hashlib.sha256(f"bench {first}".encode()).hexdigest(), status=Document.Status.READY,
                chunk_count=len(picks), chunks_embedded=len(picks), uploaded_by=owner, text=body)
            rows = Chunk.objects.bulk_create([Chunk(document=document, position=p, text=texts[i], start_char=0,
                                                    end_char=0, token_count=words) for p, i in enumerate(picks)])
            ChunkTerms.objects.bulk_create([ChunkTerms(chunk=c, document=document, terms=terms[i])
                                            for c, i in zip(rows, picks, strict=True)])
            ChunkVector.objects.bulk_create([ChunkVector(model=embedder.model, chunk=c, document=document,
                                                         vector=v.astype("<f4").tobytes())
                                             for c, v in zip(rows, vectors, strict=True)])
    with transaction.atomic():
        index_state.locked()
        IndexState.objects.filter(pk=index_state.STATE_ID).update(active_model=embedder.model)
        index_state.note_change()


def queries(n: int = 400) -> list[str]:
    rng = random.Random(5)
    words = query_words()
    return sorted({" ".join(rng.sample(words, rng.choice([1, 2, 3]))) for _ in range(n * 2)})[:n]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")
