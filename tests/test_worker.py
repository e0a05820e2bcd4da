"""A real `manage.py worker` process: it takes queued documents, survives kill -9 of its predecessor, stops a
cancelled job within seconds, and gives its document back when asked to stop."""

import os
import signal
import time

import pytest

from knowledge import services
from knowledge.index import ChunkIndex
from knowledge.models import Chunk, Document
from tests.files import make_hostile_pdf
from tests.processes import alive, children_of, manage, start_worker, stop, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

PROSE = " ".join(f"Sentence {i} is about lighthouses and their keepers." for i in range(80))


@pytest.fixture
def workers():
    started = []

    def start(**env):
        started.append(start_worker(**env))
        return started[-1]

    yield start
    for process in started:
        stop(process)


def status_of(document: Document) -> Document:
    document.refresh_from_db()
    return document


def reading(document: Document) -> bool:
    document = status_of(document)
    return document.status == Document.Status.PROCESSING and document.pages_read >= 1


def test_the_worker_makes_a_queued_document_ready(workers):
    document = services.document_submit(data=PROSE.encode(), filename="lighthouses.txt")
    assert document.status == Document.Status.PENDING
    workers()
    wait_for(lambda: status_of(document).status == Document.Status.READY, what="the document to be ready")
    assert document.chunk_count == document.chunks.count() > 0 and document.attempts == 1


def test_a_document_of_a_worker_killed_mid_way_is_picked_up_again(workers):
    # Four hostile pages: a few seconds of reading, long enough to kill the worker in the middle of it.
    document = services.document_submit(data=make_hostile_pdf(pages=4), filename="slow.pdf")
    first = workers()
    wait_for(lambda: reading(document), what="the worker to be reading")
    readers = children_of(first.pid)
    assert readers  # the sandboxed reader
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    wait_for(lambda: not any(alive(pid) for pid in readers), timeout=10, what="the reader to die with its worker")

    assert status_of(document).status == Document.Status.PROCESSING  # nobody finished it: not half-indexed
    assert ChunkIndex().search("abc", k=5) == []

    workers()  # the next worker takes it for dead after INGEST_STALLED_AFTER (2 s) and does it again
    wait_for(lambda: status_of(document).status == Document.Status.READY, timeout=60, what="the retry")
    assert document.attempts == 2 and document.error == ""
    assert list(document.chunks.values_list("position", flat=True)) == list(range(document.chunk_count))


def test_after_the_last_attempt_it_fails_with_a_reason(workers):
    document = services.document_submit(data=make_hostile_pdf(pages=4), filename="slow.pdf")
    first = workers(INGEST_MAX_ATTEMPTS="1")
    wait_for(lambda: reading(document), what="the worker to be reading")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    workers(INGEST_MAX_ATTEMPTS="1")
    wait_for(lambda: status_of(document).status == Document.Status.FAILED, what="the document to fail")
    assert document.error.startswith("Processing stopped 1 times before it finished")
    assert not Chunk.objects.exists()


def test_deleting_a_document_stops_its_job_within_seconds(workers):
    hostile = services.document_submit(data=make_hostile_pdf(pages=4999), filename="hostile.pdf")
    after = services.document_submit(data=PROSE.encode(), filename="after.txt")
    worker = workers(INGEST_READ_SECONDS="300")
    wait_for(lambda: reading(hostile), what="the worker to be reading")
    readers = children_of(worker.pid)
    services.document_delete(document=hostile)
    # Within seconds the hostile file's reader is gone; then the queue goes on (the next job takes as long as
    # it takes on a loaded machine: the bound is on stopping, not on ingesting the next file).
    wait_for(lambda: not any(alive(pid) for pid in readers), timeout=10, what="the reader to be killed")
    wait_for(lambda: status_of(after).status == Document.Status.READY, what="the next job")
    assert not Document.objects.filter(pk=hostile.pk).exists() and Document.objects.count() == 1


def test_sigterm_stops_the_worker_at_once_and_the_document_goes_back_to_the_queue(workers):
    document = services.document_submit(data=make_hostile_pdf(pages=4999), filename="hostile.pdf")
    worker = workers(INGEST_READ_SECONDS="300")
    wait_for(lambda: reading(document), what="the worker to be reading")
    readers = children_of(worker.pid)
    asked = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=15)
    assert time.monotonic() - asked < 10
    assert not any(alive(pid) for pid in readers)
    document = status_of(document)
    assert document.status == Document.Status.PENDING and document.attempts == 0 and document.stage == "queued"


def test_ingest_wait_follows_the_worker_to_the_end(workers, tmp_path):
    (tmp_path / "one.md").write_text("# One\n\nThe first file.")
    (tmp_path / "two.txt").write_text(PROSE)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    workers()
    command = manage("ingest", str(tmp_path), "--wait")
    assert command.wait(timeout=120) == 1
    output = stop(command)
    assert "Ingested 2, duplicates skipped 0, failed 1." in output
    assert "broken.pdf: The PDF is damaged" in output and "Traceback" not in output
    assert Document.objects.filter(status=Document.Status.READY).count() == 2
