"""gunicorn settings for production: `make serve`, or `gunicorn -c python:ragchat.gunicorn_conf ragchat.wsgi`.

Why this shape (measured with bench/streams.py and bench/load.py, README "Production"):
- gthread workers: a streamed answer spends a minute waiting on the model service, which a thread does
  at almost no cost. A thread's request is never killed by `timeout` (that watches the worker's main loop),
  so an answer runs until OPENAI_TIMEOUT, unlike with sync workers, which cut it at 30 s.
- One worker process per core: the GIL keeps one process to about one core of Python. Connections are shared
  out evenly among the workers (ragchat/gunicorn_worker.py): with gunicorn's own gthread worker, 32 keep-alive
  connections could all land on one worker and leave a core idle.
- WEB_RUNNING (default 2) requests per worker run Python at once, the others queue in arrival order
  (ragchat/gate.py): threads scrambling for the GIL made the slowest 1% of searches wait 3-6 times longer.
- WEB_THREADS threads per worker, enough for every open stream on one worker plus the short requests
  beside them: gthread hands a new connection to a free thread, and a request queued behind busy ones
  waits. Threads waiting on the network cost memory (a few hundred KB each), not CPU; a streaming request
  gives its database connection back while it waits (ragchat.db.release_connection).
- One BLAS/OpenMP thread per worker (and one thread for the index's int8 scan and the local model): with two
  workers on two cores, a search's matrix product that spreads over both cores only fights the other worker.
- Errors gunicorn answers itself (a malformed request line, headers too large) are JSON, like the app's.

Every value can be overridden: WEB_CONCURRENCY (workers), WEB_THREADS, WEB_RUNNING (0: no gate), BIND, and any
gunicorn option through GUNICORN_CMD_ARGS (e.g. "--access-logfile -").
"""

import gc
import json
import os

os.environ.setdefault("WEB_RUNNING", "2")  # requests per worker that run Python at once (ragchat/gate.py)
# One thread per worker for numpy's BLAS, the index's int8 scan and the local model's batches: with a worker per
# core, a product spread over every core only fights the other workers for them.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "INDEX_SCAN_THREADS",
              "LOCAL_EMBEDDING_THREADS"):
    os.environ.setdefault(_name, "1")  # read when numpy and the settings load, in each worker after the fork
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")

bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = "ragchat.gunicorn_worker.BalancedThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
threads = int(os.environ.get("WEB_THREADS", 256))
worker_connections = threads + 256  # room for idle keep-alive connections beside the busy threads
keepalive = 5
timeout = 60  # a worker whose main loop is stuck this long is restarted (requests in threads are not timed)
# On a restart or stop, requests in flight get this long to finish: an answer's full OPENAI_TIMEOUT.
graceful_timeout = int(float(os.environ.get("OPENAI_TIMEOUT", 60))) + 5
max_requests = 0  # the search index lives in the worker's memory: recycling workers would reload it
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190


def on_starting(server):
    """Fail at once, with the settings' own one-line message (e.g. no SECRET_KEY), rather than once per
    worker in a restart loop."""
    from django.conf import settings

    settings.SECRET_KEY  # noqa: B018  (reading it loads and checks the settings)


def write_json_error(sock, status_int, reason, mesg):
    """gunicorn's own error answers, as {"detail": ...} instead of an HTML page."""
    from gunicorn import util

    body = json.dumps({"detail": f"{reason}: {mesg}" if mesg else reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


def _answer_errors_in_json():
    from gunicorn import util

    util.write_error = write_json_error  # workers call util.write_error(...) for every error they answer


_answer_errors_in_json()


def post_worker_init(worker):
    """The app is loaded: its modules, settings and URL patterns live as long as the worker. Frozen, the
    garbage collector stops walking them (~130,000 objects, 60 ms a pass on this machine) each time it looks
    for the cycles requests leave behind, a pause every request in the process waited for."""
    gc.collect()
    gc.freeze()
