"""Ingestion through the queue: throughput, upload-to-searchable, the web's p99 meanwhile, the cost of a hostile PDF.

    .venv/bin/python bench/ingest_queue.py                 # hostile-PDF cost, then SQLite, then MariaDB
    .venv/bin/python bench/ingest_queue.py --db sqlite     # one database
    .venv/bin/python bench/ingest_queue.py --quick         # smaller documents, shorter load

For each database, in its own process and its own database (a temporary SQLite file; a `ragchat_bench_queue`
MariaDB database, dropped and re-created; MARIADB_BENCH_URL overrides its URL):
1. throughput: text, PDF and .docx files submitted to the queue, one real `manage.py worker` process
   processing them (reading in the sandbox, chunking, local embedding, storing): MB/s and chunks/s from the
   first submission to the last document ready;
2. upload to searchable: the web server (runserver) and a worker under ragchat/supervisor.py on
   127.0.0.1:8201; a 1-page and a 300-page PDF uploaded over HTTP, then /api/search polled until it finds them;
3. the web while 8 large documents are ingested: 4 clients each starting a search and an offline chat turn
   every 0.5 s, p50/p99/max of each, first with the worker idle and then during the ingestion, in one run;
and once: the CPU seconds a hostile PDF (4,999 pages sharing one expensive content stream) costs until it is
refused, at a given read limit, and what pypdf's 20 MB content stream costs until pypdf refuses it.
Prints figures; not a test. Compare ratios within a run: the machine is shared.
"""

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PORT = 8201
MARIADB_URL = os.environ.get("MARIADB_BENCH_URL", "mysql://root@127.0.0.1:3306/ragchat_bench_queue")


def hostile_cost(seconds: float) -> None:
    from knowledge.errors import ExtractionFailed
    from knowledge.sandbox import Limits, read_file
    from tests.files import make_huge_stream_pdf

    from tests.files import make_hostile_pdf  # isort: skip

    print("== hostile PDFs, read in the sandbox")
    for label, data in ((f"4,999 pages sharing one content stream ({len(make_hostile_pdf()) // 1024} KB)",
                         make_hostile_pdf()),
                        ("one page, 20 MB content stream", make_huge_stream_pdf(20))):
        started = time.monotonic()
        before = os.times()
        try:
            read_file(data, "hostile.pdf", limits=Limits(wall_seconds=seconds, cpu_seconds=int(seconds) + 60,
                                                         memory_mb=1024))
            outcome = "read (!)"
        except ExtractionFailed as exc:
            outcome = str(exc)
        after = os.times()
        cpu = (after.children_user + after.children_system) - (before.children_user + before.children_system)
        print(f"  {label}: {cpu:.1f} CPU s, {time.monotonic() - started:.1f} s wall -> {outcome}")


def setup(db: str) -> None:
    from ingest import setup_django

    if db == "mariadb":
        os.environ["MARIADB_BENCH_URL"] = MARIADB_URL
        import ingest

        ingest.MARIADB_URL = MARIADB_URL
    setup_django(db)


def documents(kind: str, count: int, megabytes: float) -> list[tuple[str, bytes]]:
    from ingest import prose

    from tests.files import make_docx, make_pdf_lines

    rng = random.Random(f"{kind}{count}")
    per = int(megabytes * 1024 * 1024 / count)
    files = []
    for n in range(count):
        text = prose(rng, per)
        if kind == "txt":
            data = text.encode()
        elif kind == "pdf":
            lines = [text[i:i + 90] for i in range(0, len(text), 90)]
            data = make_pdf_lines([lines[i:i + 45] for i in range(0, len(lines), 45)])
        else:
            data = make_docx(text.split("\n\n"))
        files.append((f"bench-{kind}-{n}.{kind}", data))
    return files


def worker(**env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "worker", "--interval", "0.1", "--no-startup-delay",
                             "-v", "0"], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL)


def wait_ready(ids: list[int], timeout: float = 1800) -> None:
    from knowledge.models import Document

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = Document.objects.filter(pk__in=ids).exclude(status__in=["ready", "failed"]).count()
        if not left:
            failed = list(Document.objects.filter(pk__in=ids, status="failed").values_list("filename", "error"))
            if failed:
                print(f"  (failed: {failed[:3]})")
            return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for the worker")


def throughput(quick: bool) -> None:
    from knowledge.models import Document
    from knowledge.services import document_submit

    process = worker()
    try:
        warm = document_submit(text="Warm-up document for the worker.")
        wait_ready([warm.pk])
        for kind in ("txt", "pdf", "docx"):
            files = documents(kind, 4, 0.5 if quick else 2.0)
            started = time.monotonic()
            ids = [document_submit(data=data, filename=name).pk for name, data in files]
            wait_ready(ids)
            elapsed = time.monotonic() - started
            megabytes = sum(len(data) for _, data in files) / 1024 / 1024
            chunks = sum(Document.objects.filter(pk__in=ids).values_list("chunk_count", flat=True))
            print(f"  {kind:>4}: {len(files)} files, {megabytes:5.2f} MB, {chunks:5d} chunks in {elapsed:6.2f} s -> "
                  f"{megabytes / elapsed:5.2f} MB/s, {chunks / elapsed:6.0f} chunks/s")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


class Client:
    def __init__(self, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"):
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = content_type
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None

    def upload(self, name: str, data: bytes):
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", "/api/documents", body, f"multipart/form-data; boundary={boundary}")


def serve() -> subprocess.Popen:
    python = sys.executable
    server = subprocess.Popen([python, "-m", "ragchat.supervisor", f"{python} manage.py runserver 127.0.0.1:{PORT} "
                               "--noreload", f"{python} manage.py worker --interval 0.1 --no-startup-delay -v 0"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=2).request("GET", "/healthz")
            return server
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def upload_to_searchable(client: Client) -> None:
    from tests.files import make_pdf_lines

    for pages in (1, 300):
        word = f"zq{uuid.uuid4().hex[:8]}"
        lines = [f"Page {n}: the {word} report covers quarter results and team budgets in detail." for n in
                 range(pages)]
        data = make_pdf_lines([[line] * 30 for line in lines])
        started = time.monotonic()
        status, body = client.upload(f"{pages}-pages.pdf", data)
        answered = time.monotonic() - started
        assert status == 202, body
        while True:
            status, hits = client.call("GET", f"/api/search?q={word}&k=1")
            if status == 200 and hits and (hits.get("results") if isinstance(hits, dict) else hits):
                break
            time.sleep(0.05)
        print(f"  {pages:>3}-page PDF ({len(data) // 1024} KB): upload answered in {answered * 1000:.0f} ms, "
              f"searchable after {time.monotonic() - started:.2f} s")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


PACE_SECONDS = 0.5  # each client starts a search and a chat turn every half second: 16 requests/s in all


def load(token: str, stop: threading.Event) -> dict[str, list[float]]:
    """4 clients, each starting a search then an offline chat turn every PACE_SECONDS, until `stop`. Paced, not
    back to back: a closed loop would measure the queue it builds itself, not the service."""
    timings: dict[str, list[float]] = {"search": [], "chat": [], "errors": []}
    questions = ["quarter budget review", "customer release security", "team meeting policy", "search index"]

    def client_loop(n: int):
        client = Client(token)
        _, session = client.call("POST", "/api/sessions", json.dumps({"name": f"bench {n}"}).encode())
        query = questions[n].replace(" ", "+")
        next_at = time.monotonic()
        while not stop.is_set():
            next_at += PACE_SECONDS
            time.sleep(max(0.0, next_at - time.monotonic()))
            for kind, call in (("search", lambda: client.call("GET", f"/api/search?q={query}")),
                               ("chat", lambda: client.call("POST", f"/api/sessions/{session['id']}/chat",
                                                            json.dumps({"message": questions[n]}).encode()))):
                started = time.monotonic()
                status, _ = call()
                timings[kind].append(time.monotonic() - started)
                if status >= 400:
                    timings["errors"].append(status)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def report(label: str, timings: dict[str, list[float]]) -> None:
    parts = [f"{kind} p50 {percentile(t, .5) * 1000:4.0f} ms, p99 {percentile(t, .99) * 1000:5.0f} ms, "
             f"max {max(t) * 1000:5.0f} ms ({len(t)})" for kind, t in timings.items() if kind != "errors" and t]
    print(f"  {label}: " + "; ".join(parts) + f"; errors {len(timings['errors'])}")


def web_during_ingestion(client: Client, token: str, quick: bool) -> None:
    from knowledge.models import Document

    stop = threading.Event()
    result = {}
    runner = threading.Thread(target=lambda: result.update(idle=load(token, stop)))
    runner.start()
    time.sleep(5 if quick else 10)
    stop.set()
    runner.join()
    report("worker idle      ", result["idle"])

    files = documents("pdf", 8, 4 if quick else 8)  # 8 large PDFs (~230 pages each by default)
    ids = []
    stop.clear()
    runner = threading.Thread(target=lambda: result.update(busy=load(token, stop)))
    runner.start()
    started = time.monotonic()
    for name, data in files:
        status, body = Client(token).upload(name, data)
        ids.append(body["id"])
    while Document.objects.filter(pk__in=ids).exclude(status__in=["ready", "failed"]).exists():
        time.sleep(0.1)
    stop.set()
    runner.join()
    megabytes = sum(len(d) for _, d in files) / 1024 / 1024
    report("8 PDFs ingesting ", result["busy"])
    pages = sum(Document.objects.filter(pk__in=ids).values_list("page_count", flat=True))
    print(f"  (8 PDFs, {megabytes:.1f} MB, {pages} pages, ingested in {time.monotonic() - started:.1f} s meanwhile)")


def run(db: str, quick: bool) -> None:
    setup(db)
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from knowledge.services import document_ingest

    print(f"== queue on {connection.vendor}")
    throughput(quick)
    user = User.objects.create_user("bench", password=uuid.uuid4().hex)
    token = Token.objects.create(user=user).key
    from ingest import prose

    rng = random.Random(1)
    for n in range(20):  # something to search and chat over
        document_ingest(text=prose(rng, 20_000), title=f"Seed {n}")
    server = serve()
    try:
        client = Client(token)
        upload_to_searchable(client)
        web_during_ingestion(client, token, quick)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mariadb"], help="Only this database (default: both).")
    parser.add_argument("--quick", action="store_true", help="Smaller documents and shorter load.")
    parser.add_argument("--hostile-seconds", type=float, default=30,
                        help="The read limit for the hostile PDF (default 30 s; the setting's default is 300).")
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if args.db:
        run(args.db, args.quick)
        return
    hostile_cost(args.hostile_seconds)
    status = 0
    for db in ("sqlite", "mariadb"):
        status |= subprocess.call([sys.executable, __file__, "--db", db, *(["--quick"] if args.quick else [])])
    sys.exit(status)


if __name__ == "__main__":
    main()
