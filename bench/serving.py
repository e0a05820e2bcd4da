"""What the serving benchmarks share: a fresh database (SQLite file or MariaDB), seeded in this process, and
the production server on it (tests/production_server.py). Ports: this project's bench range 8100-8199."""

import os
import random
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MARIADB_URL = os.environ.get("MARIADB_BENCH_URL", "mysql://root@127.0.0.1:3306/ragchat_prod")
WORDS = ("volcano magma glacier river delta erosion basalt granite plate tectonic quake fault summit crater ash "
         "lava valley moraine fjord canyon mesa aquifer spring geyser reef atoll lagoon tide current storm "
         "monsoon drought harvest orchard vineyard wheat barley rice maize soil compost nitrogen carbon oxygen "
         "climate weather pressure humidity cloud rain snow frost thaw season equinox solstice orbit comet "
         "planet moon eclipse telescope galaxy nebula quasar pulsar photon electron proton neutron atom "
         "molecule enzyme protein cell tissue organ nerve muscle bone blood heart lung liver kidney vaccine "
         "virus bacteria fungus algae moss fern pine oak maple birch willow cedar spruce juniper holly").split()


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
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def seed(*, sessions: int, chunks: int, messages_per_session: int = 10) -> dict:
    """Users with tokens, `sessions` sessions (with messages) for the first user, about `chunks` chunks."""
    from django.conf import settings
    from rest_framework.authtoken.models import Token

    from knowledge.services import document_ingest
    from sessions_app.models import ChatSession, Message
    from tests.factories import make_user

    rng = random.Random(8)
    users = [make_user(f"bench{n}") for n in range(2)]
    tokens = [Token.objects.create(user=u).key for u in users]
    made = ChatSession.objects.bulk_create(ChatSession(owner=users[0], name=f"Chat {n}") for n in range(sessions))
    Message.objects.bulk_create(Message(session=s, role=("user", "assistant")[m % 2], content=paragraph(rng, 60))
                                for s in made for m in range(messages_per_session))
    per_doc = 20  # chunks per document
    words_per_chunk = int(settings.CHUNK_SIZE / 1.3 * 0.8)
    for d in range(max(1, chunks // per_doc)):
        text = "\n\n".join(paragraph(rng, words_per_chunk) for _ in range(per_doc))
        document_ingest(text=text, title=f"Document {d}", user=users[0])
    return {"tokens": tokens, "sessions": [str(s.id) for s in made]}


def queries(n: int = 400) -> list[str]:
    rng = random.Random(5)
    return sorted({" ".join(rng.sample(WORDS, rng.choice([1, 2, 3]))) for _ in range(n * 2)})[:n]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")
