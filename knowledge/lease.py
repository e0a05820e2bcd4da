"""A job's claim on a document: taken atomically, kept alive by heartbeats, lost when the document is deleted.

`Lease.claim` turns a pending document into a processing one that carries a fresh token; only the holder of
that token may report progress on it, write its chunks or finish it. Every `beat` refreshes `heartbeat_at`
and finds out at the same time whether the document is still this job's: 0 rows updated means it was
deleted (cancelled) or given to another worker, and the job stops (`Cancelled`). A worker that dies (kill -9,
out of memory) stops beating; `knowledge.jobs.recover_stalled` queues such a document again, or fails it
after INGEST_MAX_ATTEMPTS.

A worker asked to stop (SIGTERM, Ctrl-C) sets `stop_requested`: the job then gives its document back to the
queue at its next beat (`Interrupted`) instead of finishing it, so stopping takes a second, not a document.
"""

import secrets
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from knowledge import index_state
from knowledge.models import Document

stop_requested = threading.Event()


class Cancelled(Exception):
    """The document was deleted, or is no longer this job's."""


class Interrupted(Exception):
    """The worker is shutting down; the document goes back to the queue."""


class Lease:
    def __init__(self, document_id: int, token: str):
        self.document_id = document_id
        self.token = token
        self._lost = threading.Event()
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()
        self._pending: dict = {}

    @classmethod
    def claim(cls, document_id: int) -> "Lease | None":
        """Take a pending document; None when it is not pending (deleted, taken, finished)."""
        token = secrets.token_hex(16)
        claimed = Document.objects.filter(pk=document_id, status=Document.Status.PENDING).update(
            status=Document.Status.PROCESSING, stage=Document.Stage.READING, job_token=token,
            attempts=F("attempts") + 1, heartbeat_at=timezone.now(), pages_read=0, page_count=0, chunks_embedded=0,
            error="", error_kind="")
        return cls(document_id, token) if claimed else None

    def documents(self):
        """This lease's document, as a queryset: empty once the lease is lost."""
        return Document.objects.filter(pk=self.document_id, job_token=self.token)

    def beat(self, *, force: bool = False, **progress) -> None:
        """Record progress (fields of Document) and that the job is alive. Writes at most every
        `beat_seconds` unless forced; raises Cancelled or Interrupted when the job must stop."""
        self.check()
        with self._lock:
            self._pending.update(progress)
            if not force and time.monotonic() - self._last_beat < beat_seconds():
                return
            fields, self._pending = self._pending, {}
            self._last_beat = time.monotonic()
        if not self.documents().update(heartbeat_at=timezone.now(), **fields):
            self._lost.set()
        self.check()

    def check(self) -> None:
        if self._lost.is_set():
            raise Cancelled()
        if stop_requested.is_set():
            raise Interrupted()

    @contextmanager
    def locked(self):
        """A transaction holding this lease's document row: raises Cancelled when it is no longer ours.

        The search index's state row is locked first: every writer of documents, chunks and vectors locks in
        that order (knowledge/index_state.py), so a job finishing a document and a user deleting it cannot
        deadlock each other on MySQL/MariaDB."""
        with transaction.atomic():
            index_state.locked()
            document = self.documents().select_for_update().first()
            if document is None:
                self._lost.set()
                raise Cancelled()
            yield document

    @contextmanager
    def kept_alive(self):
        """Beat from a background thread while the body runs, so that a long blocking call (a slow embedding
        service) does not look like a dead worker. For workers only: the thread has its own connection, which
        cannot see the uncommitted rows of a caller's transaction."""
        done = threading.Event()

        def keep_beating():
            try:
                while not done.wait(beat_seconds()):
                    try:
                        self.beat(force=True)
                    except (Cancelled, Interrupted):
                        return
            finally:
                connection.close()

        thread = threading.Thread(target=keep_beating, name=f"lease-{self.document_id}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()


def beat_seconds() -> float:
    """How often a job says it is alive: a tenth of the time after which it is taken for dead."""
    return min(2.0, max(0.2, settings.INGEST_STALLED_AFTER / 10))
