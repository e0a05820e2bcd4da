"""Memory of the search index in a production server's worker processes: RSS and PSS per worker.

    .venv/bin/python bench/index_memory.py                       # MariaDB (ragchat_index_bench), 4 workers
    .venv/bin/python bench/index_memory.py --database-url URL --workers 4 --docs 1000

Uses the database bench/retrieval.py fills (1,000 documents x 100 chunks of 1,536 random dimensions, with
150-300-word texts and their term counts), filling it first if it holds fewer chunks. It makes that model
the active one, starts an OpenAI-compatible server (tests/openai_server.py) that embeds the queries, and
runs gunicorn with N gthread workers on 127.0.0.1:8401 (BENCH_PORT), twice: with index snapshots (knowledge/snapshot.py)
in a temporary folder, and without (each worker loads its own copy). Searches go to every worker until
each holds the index; then it prints each worker's resident (RSS) and proportional (PSS: shared pages
divided among the processes that map them) memory from /proc/PID/smaps_rollup, their sums, and the size
of one copy of the index.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench import retrieval  # noqa: E402  (the same database, model and fill as the retrieval bench)

PORT = int(os.environ.get("BENCH_PORT", "8401"))  # gunicorn; the embedding server takes the next port
EMBEDDINGS_PORT = PORT + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=retrieval.MARIADB_URL)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--docs", type=int, default=retrieval.DOCS)
    parser.add_argument("--load-seconds", type=float, default=10,
                        help="with the shared snapshot, load /api/search and /api/config over 32 connections this long")
    args = parser.parse_args()
    if args.database_url.startswith("mysql") and not retrieval._mariadb_is_up():
        print("MariaDB is not answering on 127.0.0.1:3306: skipped (scripts/mariadb-up.sh starts it).")
        return
    if args.database_url.startswith("mysql"):
        import MySQLdb

        name = args.database_url.rsplit("/", 1)[1]
        server = MySQLdb.connect(host="127.0.0.1", user="root", port=3306)
        server.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                                "COLLATE utf8mb4_unicode_ci")
        server.close()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    import django

    django.setup()
    token = _prepare(args.docs)
    from tests.openai_server import FakeOpenAI

    embeddings = FakeOpenAI(dims=retrieval.DIMS).start(port=EMBEDDINGS_PORT)
    try:
        with tempfile.TemporaryDirectory(prefix="ragchat-snapshots-") as folder:
            alone = _measure("without snapshots (each worker loads its own copy)", args, token, "", embeddings.url)
            shared = _measure("with a shared snapshot", args, token, folder, embeddings.url)
            print(f"\nOne copy of the index (a worker without sharing, PSS): {alone[0]:.0f} MiB. "
                  f"{args.workers} workers sharing a snapshot: {shared[1]:.0f} MiB in all "
                  f"({shared[1] / alone[0]:.2f}x one copy), against {alone[1]:.0f} MiB without "
                  f"({alone[1] / alone[0]:.2f}x).")
    finally:
        embeddings.stop()


def _prepare(docs: int) -> str:
    """Fill the database if needed, make the bench model the active one; returns an API token."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from knowledge import index_state
    from knowledge.models import ChunkVector, Document, IndexState

    call_command("migrate", verbosity=0)
    if ChunkVector.objects.filter(model=retrieval.MODEL).count() < docs * retrieval.CHUNKS_PER_DOC:
        print(f"Filling {connection.settings_dict['NAME']} with {docs:,} documents...", flush=True)
        Document.objects.all().delete()
        rng = np.random.default_rng(0)
        for doc in range(docs):
            retrieval._insert_document(connection, rng, f"bench-{doc}")
    IndexState.objects.filter(pk=index_state.STATE_ID).update(active_model=retrieval.MODEL, target_model="")
    index_state.note_change()
    user, _ = get_user_model().objects.get_or_create(username="bench-memory")
    return Token.objects.get_or_create(user=user)[0].key


def _measure(label: str, args, token: str, snapshots: str, embeddings_url: str) -> tuple[float, float]:
    """(the largest worker's PSS, the sum of every process's PSS), in MiB."""
    env = {**os.environ, "DATABASE_URL": args.database_url, "INDEX_SNAPSHOT_DIR": snapshots,
           "OPENAI_BASE_URL": embeddings_url, "OPENAI_API_KEY": "bench", "EMBEDDING_BACKEND": "openai",
           "OPENAI_EMBEDDING_MODEL": retrieval.MODEL, "CHAT_BACKEND": "offline", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "INDEX_SCAN_THREADS": "1"}
    log = tempfile.TemporaryFile()  # the workers' log, shown if something fails
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "ragchat.wsgi", "-w", str(args.workers), "-k", "gthread",
         "--threads", "4", "-b", f"127.0.0.1:{PORT}", "--timeout", "300", "--log-level", "warning"],
        cwd=ROOT, env=env, stderr=log)
    try:
        _wait_until_up()
        started = time.perf_counter()
        workers = _load_every_worker(server.pid, token, args.workers)
        loaded = time.perf_counter() - started
        print(f"\n=== {args.workers} gunicorn gthread workers, {label} (all loaded in {loaded:.1f} s) ===")
        print(f"{'process':>16} {'RSS MiB':>9} {'PSS MiB':>9} {'private MiB':>12}")
        totals, largest = [0.0, 0.0, 0.0], 0.0
        for pid in [server.pid, *workers]:
            memory = smaps(pid)
            name = "master" if pid == server.pid else f"worker {pid}"
            print(f"{name:>16} {memory['Rss']:9.0f} {memory['Pss']:9.0f} {memory['Private']:12.0f}")
            totals = [t + memory[k] for t, k in zip(totals, ("Rss", "Pss", "Private"), strict=True)]
            largest = max(largest, memory["Pss"] if pid != server.pid else 0)
        print(f"{'sum':>16} {totals[0]:9.0f} {totals[1]:9.0f} {totals[2]:12.0f}")
        one_copy = retrieval.DIMS * 4 * args.docs * retrieval.CHUNKS_PER_DOC / 2**20
        files = list(Path(snapshots).glob("*.idx")) if snapshots else []
        snapshot_size = sum(f.stat().st_size for f in files) / 2**20
        print(f"one copy of the vectors: {one_copy:.0f} MiB" +
              (f"; the snapshot file (vectors + BM25): {snapshot_size:.0f} MiB" if files else ""))
        if snapshots and args.load_seconds:
            search = _load(token, "/api/search?q=tower+bread+yeast&k=5", args.load_seconds)
            trivial = _load(token, "/api/config", args.load_seconds)
            for name, (rate, p50, p99) in (("GET /api/search", search), ("GET /api/config (trivial)", trivial)):
                print(f"{name:>26}: {rate:7.1f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (32 connections)")
            print(f"search / trivial throughput: {search[0] / trivial[0]:.0%}")
        return largest, totals[1]
    except Exception:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-5000:])
        raise
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def _load(token: str, path: str, seconds: float, connections: int = 32) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of GETs of `path` from `connections` keep-alive connections."""
    import http.client

    times: list[float] = []
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Token {token}"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            times.append(time.perf_counter() - started)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return len(times) / elapsed, float(np.percentile(times, 50) * 1000), float(np.percentile(times, 99) * 1000)


def _wait_until_up(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=5).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz")


def _load_every_worker(master: int, token: str, count: int, timeout: float = 600) -> list[int]:
    """Search from 16 threads until every worker holds the index (its RSS passes half the matrix)."""
    threshold = _loaded_rss()
    deadline = time.monotonic() + timeout
    stop = threading.Event()

    def search() -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/search?q=tower+bread+yeast&k=5",
                                         headers={"Authorization": f"Token {token}"})
        while not stop.is_set():
            try:
                urllib.request.urlopen(request, timeout=300).read()
            except OSError:
                time.sleep(0.1)

    threads = [threading.Thread(target=search, daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    try:
        while time.monotonic() < deadline:
            workers = _children(master)
            memory = {pid: smaps(pid)["Rss"] for pid in workers}
            if len(workers) == count and all(rss > threshold for rss in memory.values()):
                time.sleep(2)  # a few more queries each, so the figures are settled
                return workers
            time.sleep(1)
        raise RuntimeError("not every worker loaded the index in time")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=300)


def _loaded_rss() -> float:
    """A worker holds the index once its resident memory passes half the vectors (MiB)."""
    from knowledge.models import ChunkVector

    rows = ChunkVector.objects.filter(model=retrieval.MODEL).count()
    return rows * retrieval.DIMS * 4 / 2**20 / 2


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def smaps(pid: int) -> dict[str, float]:
    """MiB from /proc/PID/smaps_rollup: Rss, Pss and Private (clean + dirty)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    return {"Rss": fields["Rss"], "Pss": fields["Pss"],
            "Private": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


if __name__ == "__main__":
    main()
