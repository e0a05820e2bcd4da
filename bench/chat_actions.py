"""Chat actions at scale: searching your chats, the admin's token usage report, export, and the stop check.

    .venv/bin/python bench/chat_actions.py                  # SQLite, then MariaDB
    .venv/bin/python bench/chat_actions.py --db sqlite      # one of them
    .venv/bin/python bench/chat_actions.py --messages 200000

Generates users, chats and messages (one heavy user with a fifth of them), then times through the real
API and admin code paths: GET /api/sessions (first page, ?search= by a rare word, a common word and a
title word), the usage report (per user; per day and user), a chat export, and StopWatch.requested()
per token. Each database in its own process and database: a temporary SQLite file, and a MariaDB
database (dropped and re-created; MARIADB_BENCH_URL, default mysql://root@127.0.0.1:3306/ragchat_bench).
Prints figures; not a test. Compare ratios within one run, not absolute times across runs.
"""

import argparse
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])
from bench.ingest import WORDS, setup_django  # noqa: E402  (the same database set-up as the ingest bench)

RARE = "zanzibar"  # in about 1% of messages
COMMON = "retrieval"  # one of WORDS: in most messages


def p50(fn, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def generate(total: int):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from sessions_app.models import ChatSession, Message

    rng = random.Random(7)
    users = [get_user_model().objects.create_user(f"user{i}") for i in range(50)]
    heavy = users[0]
    per_chat = 10
    chats = []
    for n in range(total // per_chat):
        owner = heavy if n % 5 == 0 else users[1 + n % 49]
        words = rng.choices(WORDS, k=4)
        chats.append(ChatSession(owner=owner, name=" ".join(words).capitalize(), message_count=per_chat,
                                 pinned=rng.random() < 0.01, archived=rng.random() < 0.05))
    with transaction.atomic():
        ChatSession.objects.bulk_create(chats, batch_size=2000)
        messages = []
        for chat in chats:
            for i in range(per_chat):
                text = " ".join(rng.choices(WORDS, k=rng.randint(10, 60)))
                if rng.random() < 0.01:
                    text += f" {RARE}"
                role = Message.Role.USER if i % 2 == 0 else Message.Role.ASSISTANT
                usage = ({"prompt_tokens": rng.randint(500, 4000), "completion_tokens": rng.randint(20, 400)}
                         if role == Message.Role.ASSISTANT else {})
                messages.append(Message(session=chat, role=role, content=text, usage=usage,
                                        model="gpt-4o-mini" if role == Message.Role.ASSISTANT else ""))
        Message.objects.bulk_create(messages, batch_size=2000)
    return heavy, chats


def spread_days(chats, rng_seed: int = 11):
    """Messages created in one go share a time stamp (auto_now_add): give each chat a day in the last 90."""
    from django.db.models import Case, DateTimeField, Value, When
    from django.utils import timezone

    from sessions_app.models import Message

    rng = random.Random(rng_seed)
    now = timezone.now()
    for start in range(0, len(chats), 500):
        batch = chats[start:start + 500]
        whens = [When(session_id=c.pk, then=Value(now - timedelta(days=rng.randint(0, 89)))) for c in batch]
        Message.objects.filter(session_id__in=[c.pk for c in batch]).update(
            created_at=Case(*whens, output_field=DateTimeField()))


def run(db: str, total: int) -> None:
    setup_django(db)
    from django.db import connection
    from rest_framework.test import APIClient

    from chat import stopping
    from sessions_app.models import ChatSession, Message
    from sessions_app.usage import usage_by_day_and_user, usage_by_user

    start = time.perf_counter()
    heavy, chats = generate(total)
    spread_days(chats)
    built = time.perf_counter() - start
    count = Message.objects.count()
    mine = Message.objects.filter(session__owner=heavy).count()
    print(f"== chat actions on {connection.vendor}: {count} messages in {len(chats)} chats of 50 users "
          f"(the searching user has {mine}); generated in {built:.1f} s")

    client = APIClient()
    client.force_authenticate(heavy)

    def listing(query: str):
        def call():
            response = client.get(f"/api/sessions?page_size=30{query}")
            assert response.status_code == 200, response.content
            return response
        return call

    title_word = chats[0].name.split()[0].lower()
    print(f"  GET /api/sessions, first page of 30:          {p50(listing('')):7.1f} ms p50")
    for label, word in [("a rare word", RARE), ("a common word", COMMON), ("a title word", title_word)]:
        hits = listing(f"&search={word}")().json()["count"]
        print(f"  ... ?search= {label:15} ({hits:>5} chats): {p50(listing(f'&search={word}')):7.1f} ms p50")

    messages = Message.objects.order_by()
    recent = messages.filter(created_at__gte=chats[0].created_at - timedelta(days=30))
    print(f"  usage per user, all messages:                {p50(lambda: usage_by_user(messages), 5):7.1f} ms p50")
    print(f"  usage per day and user (500 rows), all:      "
          f"{p50(lambda: usage_by_day_and_user(messages, limit=500), 5):7.1f} ms p50")
    print(f"  usage per day and user, the last 30 days:    "
          f"{p50(lambda: usage_by_day_and_user(recent, limit=500), 5):7.1f} ms p50")

    chat = chats[0]
    Message.objects.bulk_create([Message(session=chat, role=Message.Role.ASSISTANT if i % 2 else Message.Role.USER,
                                         content=" ".join(WORDS[:80])) for i in range(500)])
    ChatSession.objects.filter(pk=chat.pk).recount()  # bulk_create passes by the chat's message count
    for kind in ("markdown", "json"):
        def export(kind=kind):
            assert client.get(f"/api/sessions/{chat.pk}/export?as={kind}").status_code == 200
        print(f"  export a 510-message chat as {kind:8}:        {p50(export, 5):7.1f} ms p50")

    watch = stopping.StopWatch(chat.pk, since=time.time())
    calls = 200_000
    start = time.perf_counter()
    for _ in range(calls):
        watch.requested()
    throttled = (time.perf_counter() - start) / calls * 1e6
    start = time.perf_counter()
    for _ in range(20_000):
        watch.requested(now=True)  # reads the cache (the default, per-process memory cache), then the row
    read = (time.perf_counter() - start) / 20_000 * 1e6
    stopping.request_stop(chat.pk)
    start = time.perf_counter()
    for _ in range(20_000):
        watch.requested(now=True)  # a stop is in the cache: no database read
    cached = (time.perf_counter() - start) / 20_000 * 1e6
    print(f"  stop check per token: {throttled:.2f} µs between looks; a look {cached:.1f} µs "
          f"(cache), {read:.0f} µs (cache, then the chat's row: only when the client has gone)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb"], help="Only this database (default: both).")
    parser.add_argument("--messages", type=int, default=100_000, help="Messages to generate (default 100,000).")
    args = parser.parse_args()
    if args.db:
        run(args.db, args.messages)
        return
    status = 0
    for db in ("sqlite", "mariadb"):
        status |= subprocess.call([sys.executable, __file__, "--db", db, "--messages", str(args.messages)])
    sys.exit(status)


if __name__ == "__main__":
    main()
