"""`manage.py worker`: run queued jobs (django_tasks_db's worker), and recover the work of workers that died.

On top of django_tasks_db's `db_worker`:
- every INGEST_STALLED_AFTER / 2 seconds, and at start, `knowledge.jobs.recover_stalled` queues again the
  documents whose worker died mid-way (or fails them after INGEST_MAX_ATTEMPTS);
- SIGTERM or Ctrl-C stops the running job at its next heartbeat (its document goes back to the queue), so
  stopping takes about a second, not the rest of a document;
- the worker runs at a lower CPU priority (INGEST_NICE), so the web server stays responsive beside it.
One worker runs one job at a time; `--processes N` runs N of them under one supervisor (ragchat/supervisor.py).
"""

import logging
import os
import sys
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker

from knowledge import jobs
from knowledge.lease import stop_requested

log = logging.getLogger(__name__)


class RagchatWorker(Worker):
    def shutdown(self, signum, frame) -> None:
        stop_requested.set()  # the running job gives its document back at its next beat
        super().shutdown(signum, frame)


def recover_forever(stop: threading.Event) -> None:
    """The dead workers' documents, found every half stall period (the first time at once)."""
    try:
        while True:
            close_old_connections()
            try:
                jobs.recover_stalled()
            except Exception:  # a database hiccup must not end the recovery thread
                log.exception("Recovering stalled documents failed")
            if stop.wait(max(1.0, settings.INGEST_STALLED_AFTER / 2)):
                return
    finally:
        connection.close()


class Command(DbWorkerCommand):
    help = ("Run queued jobs (reading, chunking and embedding documents) one at a time; recover documents whose "
            "worker died. Stop with Ctrl-C or SIGTERM: the running document goes back to the queue.")

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--processes", type=int, default=1,
                            help="Run this many worker processes under one supervisor (default 1).")

    def handle(self, *args, processes: int, **options) -> None:
        if processes > 1:
            from ragchat.supervisor import supervise

            command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "worker",
                       "--interval", str(options["interval"]), "--queue-name", options["queue_name"]]
            sys.exit(supervise([command] * processes))
        self.configure_logging(options["verbosity"])
        if settings.INGEST_NICE:
            os.nice(max(0, settings.INGEST_NICE - os.nice(0)))
        worker = RagchatWorker(
            queue_names=options["queue_name"].split(","), interval=options["interval"], batch=options["batch"],
            backend_name=options["backend_name"], startup_delay=options["startup_delay"],
            max_tasks=options["max_tasks"], worker_id=options["worker_id"],
            excluded_queue_names=options["exclude_queues"].split(",") if options["exclude_queues"] else [],
        )
        stop = threading.Event()
        recovery = threading.Thread(target=recover_forever, args=(stop,), name="recover-stalled", daemon=True)
        recovery.start()
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()

