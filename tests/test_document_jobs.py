"""Uploads are queued: 202 at once, a job reads, chunks and embeds; progress, cancel, retry, recovery.

The jobs run here in the test's thread (tests.factories.run_queued does what a worker does); a real worker
process is driven in test_worker.py."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from knowledge import jobs, processing, services
from knowledge.index import reset_index, search
from knowledge.lease import stop_requested
from knowledge.models import Chunk, Document, UploadPart
from knowledge.uploads import read_upload
from tests.factories import run_queued
from tests.files import make_hostile_pdf, make_pdf
from tests.test_documents_api import multipart, upload

pytestmark = pytest.mark.django_db

PROSE = " ".join(f"Sentence {i} tells the story of the harbour and its boats." for i in range(60))


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` runs what would run on commit (queueing jobs), which the test's transaction
    would otherwise swallow."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def test_upload_answers_202_at_once_with_the_document_pending(api, committed):
    with committed():
        response = upload(api, "harbour.txt", PROSE.encode(), wait=False)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and body["stage"] == "queued" and body["chunk_count"] == 0
    assert response["Location"] == f"/api/documents/{body['id']}"
    document = Document.objects.get()
    assert read_upload(document) == PROSE.encode() and not Chunk.objects.exists()
    task = DBTaskResult.objects.get()
    assert document.task_id and str(task.id).replace("-", "") == document.task_id.replace("-", "")
    assert task.task_path == "knowledge.jobs.process_document" and task.args_kwargs["args"] == [document.pk]

    [done] = run_queued()
    assert done.status == Document.Status.READY and done.stage == "" and done.chunk_count > 1
    assert done.chunks_embedded == done.chunk_count == done.chunks.count()
    assert not UploadPart.objects.exists()  # the bytes go once the document is ready
    assert api.get(f"/api/documents/{done.pk}").json()["status"] == "ready"


def test_raw_text_is_queued_too(api):
    response = api.post("/api/documents", {"content": PROSE, "title": "Harbour"}, format="json")
    assert response.status_code == 202 and response.json()["title"] == "Harbour"
    assert not UploadPart.objects.exists()  # the text is the document's already
    assert run_queued()[0].status == Document.Status.READY


def test_same_bytes_while_the_first_is_pending_are_409(api, other_api):
    first = upload(api, "a.txt", b"Same bytes, twice.", wait=False).json()
    response = upload(other_api, "b.txt", b"Same bytes, twice.", wait=False)
    assert response.status_code == 409 and response.json()["document"]["id"] == first["id"]
    assert response.json()["document"]["status"] == "pending"


def test_cheap_refusals_stay_immediate_and_store_nothing(api, settings):
    settings.DOCUMENT_MAX_BYTES = 100
    assert upload(api, "big.txt", b"x" * 200, wait=False).status_code == 413
    assert upload(api, "photo.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, wait=False).status_code == 415
    assert upload(api, "fake.pdf", b"<html>not a pdf</html>", wait=False).status_code == 415
    assert upload(api, "blank.txt", b"  \n\n ", wait=False).status_code == 400
    assert not Document.objects.exists() and not DBTaskResult.objects.exists()


def test_an_empty_file_says_it_is_empty(api):
    response = upload(api, "empty.txt", b"", wait=False)
    assert response.status_code == 400 and response.json()["detail"] == "The file is empty."


@pytest.mark.parametrize("name", ["..", ".", "folder/..", "..\\.."])
def test_a_file_named_dot_dot_is_a_file(api, name):
    body, content_type = multipart(name, b"Text in a file with a strange name.")
    response = api.generic("POST", "/api/documents?wait=1", body, content_type=content_type)
    assert response.status_code == 201, response.json()
    assert response.json()["filename"] == "unnamed"
    body, content_type = multipart(name, b"")
    response = api.generic("POST", "/api/documents", body, content_type=content_type)
    assert response.status_code == 400 and response.json()["detail"] == "The file is empty."


def test_progress_shows_in_the_api_while_embedding(api, settings, monkeypatch):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 20, 0
    monkeypatch.setattr(services, "EMBED_BATCH", 4)
    document_id = upload(api, "harbour.txt", PROSE.encode(), wait=False).json()["id"]
    embedder = services.get_embedder()
    real, seen, looking = embedder.embed, [], []

    def embed_and_look(texts):
        if looking:  # the search below embeds its query with the same embedder
            return real(texts)
        looking.append(True)
        try:
            seen.append(api.get(f"/api/documents/{document_id}").json())
            reset_index()
            seen[-1]["searchable"] = [hit.document_id for hit in search("harbour boats story", k=50)]
        finally:
            looking.clear()
        return real(texts)

    monkeypatch.setattr(embedder, "embed", embed_and_look)
    monkeypatch.setattr("knowledge.lease.beat_seconds", lambda: 0)  # every beat is written
    run_queued()
    assert len(seen) > 3
    assert all(s["status"] == "processing" and s["stage"] == "embedding" for s in seen)
    assert [s["chunks_embedded"] for s in seen] == [4 * n for n in range(len(seen))]
    assert {s["chunk_count"] for s in seen} == {Document.objects.get().chunk_count}
    assert all(s["searchable"] == [] for s in seen)  # chunks written so far are not searchable yet
    reset_index()
    assert {hit.document_id for hit in search("harbour boats story", k=5)} == {document_id}


def test_pages_read_are_recorded():
    document = services.document_ingest(data=make_pdf([f"Page {n} of the guide." for n in range(1, 8)]),
                                        filename="guide.pdf")
    assert document.page_count == document.pages_read == 7 and document.stage == ""


def test_a_failed_document_says_why_and_the_next_job_still_runs(api, settings):
    settings.INGEST_READ_SECONDS = 2
    upload(api, "hostile.pdf", make_hostile_pdf(pages=4999), wait=False)
    upload(api, "fine.txt", b"A fine document after a hostile one.", wait=False)
    started = time.monotonic()
    hostile, fine = run_queued()
    assert time.monotonic() - started < 10
    assert hostile.status == Document.Status.FAILED
    assert hostile.error == "The file took longer than 2 s to read; refused."
    assert fine.status == Document.Status.READY
    shown = api.get(f"/api/documents/{hostile.pk}").json()
    assert shown["error"] == hostile.error and shown["can_retry"] is True and shown["stage"] == ""


def test_deleting_a_pending_document_leaves_nothing_behind(api, committed):
    with committed():
        document_id = upload(api, "a.txt", PROSE.encode(), wait=False).json()["id"]
    assert DBTaskResult.objects.count() == 1
    assert api.delete(f"/api/documents/{document_id}").status_code == 204
    assert not Document.objects.exists() and not UploadPart.objects.exists() and not DBTaskResult.objects.exists()
    assert run_queued() == []


def test_deleting_a_document_while_it_is_read_kills_the_reader(api, monkeypatch):
    document_id = upload(api, "hostile.pdf", make_hostile_pdf(pages=4999), wait=False).json()["id"]
    real_read = processing.read_file
    beats = []

    def read_and_delete_meanwhile(data, filename, *, keep_going, **kwargs):
        def keep_going_then_delete():
            beats.append(time.monotonic())
            if len(beats) == 5:  # another request deletes it while the child reads
                api.delete(f"/api/documents/{document_id}")
            keep_going()

        return real_read(data, filename, keep_going=keep_going_then_delete, **kwargs)

    monkeypatch.setattr(processing, "read_file", read_and_delete_meanwhile)
    monkeypatch.setattr("knowledge.lease.beat_seconds", lambda: 0)
    assert run_queued() == [None]
    assert time.monotonic() - beats[4] < 2  # stopped at the next beat, not after the 4,999 pages
    assert not Document.objects.exists() and not Chunk.objects.exists() and not UploadPart.objects.exists()


def test_deleting_a_document_while_it_is_embedded_leaves_no_chunk(api, settings, monkeypatch):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 20, 0
    monkeypatch.setattr(services, "EMBED_BATCH", 4)
    document_id = upload(api, "harbour.txt", PROSE.encode(), wait=False).json()["id"]
    embedder = services.get_embedder()
    real, calls = embedder.embed, []

    def embed_then_delete(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            Document.objects.filter(pk=document_id).delete()
        return real(texts)

    monkeypatch.setattr(embedder, "embed", embed_then_delete)
    assert run_queued() == [None]
    assert len(calls) == 3 and not Chunk.objects.exists()


def test_retry_a_failed_document(api, other_api, monkeypatch):
    embedder = services.get_embedder()
    real = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: (_ for _ in ()).throw(services.ProviderError("down")))
    document_id = upload(api, "harbour.txt", PROSE.encode(), wait=False).json()["id"]
    [failed] = run_queued()
    assert failed.status == Document.Status.FAILED and "down" in failed.error
    assert read_upload(failed) == PROSE.encode()  # kept for the retry
    monkeypatch.setattr(embedder, "embed", real)

    assert other_api.post(f"/api/documents/{document_id}/retry").status_code == 404  # not theirs
    response = api.post(f"/api/documents/{document_id}/retry")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert response.json()["error"] == "" and response.json()["attempts"] == 0
    [done] = run_queued()
    assert done.status == Document.Status.READY and done.error == ""
    response = api.post(f"/api/documents/{document_id}/retry")
    assert response.status_code == 409 and "Only a failed document" in response.json()["detail"]


def test_retry_with_wait_answers_with_the_outcome(api, settings):
    settings.INGEST_READ_SECONDS = 1
    document_id = upload(api, "hostile.pdf", make_hostile_pdf(pages=100), wait=False).json()["id"]
    run_queued()
    response = api.post(f"/api/documents/{document_id}/retry?wait=1")
    assert response.status_code == 422 and "took longer than 1 s" in response.json()["detail"]
    assert response.json()["document"]["status"] == "failed"


# --- a dead or stopping worker ------------------------------------------------------------------------

def stalled(document: Document, *, attempts: int, seconds_ago: float = 3600) -> None:
    """As a worker killed mid-document leaves it: processing, some chunks, no heartbeat for a while."""
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.PROCESSING, stage=Document.Stage.EMBEDDING, job_token="dead-worker",
        attempts=attempts, heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago))
    Chunk.objects.create(document=document, position=0, text="half", start_char=0, end_char=4)


def test_a_document_whose_worker_died_is_queued_again_and_finished(committed):
    document = services.document_submit(text=PROSE, enqueue=False)
    stalled(document, attempts=1)
    with committed():
        assert jobs.recover_stalled() == 1
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING and document.job_token == "" and document.task_id
    [done] = run_queued()
    assert done.status == Document.Status.READY and done.attempts == 2
    assert list(done.chunks.values_list("position", flat=True)) == list(range(done.chunk_count))  # no leftover


def test_after_max_attempts_it_fails_with_a_reason(settings):
    settings.INGEST_MAX_ATTEMPTS = 2
    document = services.document_submit(text=PROSE, enqueue=False)
    stalled(document, attempts=2)
    jobs.recover_stalled()
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED and not document.chunks.exists()
    assert document.error.startswith("Processing stopped 2 times before it finished")


def test_a_live_job_is_left_alone(settings):
    document = services.document_submit(text=PROSE, enqueue=False)
    stalled(document, attempts=1, seconds_ago=1)
    assert jobs.recover_stalled() == 0
    document.refresh_from_db()
    assert document.status == Document.Status.PROCESSING and document.job_token == "dead-worker"


def test_a_pending_document_whose_job_was_lost_is_queued_again(committed):
    document = services.document_submit(text=PROSE, enqueue=False)
    Document.objects.filter(pk=document.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with committed():
        assert jobs.recover_stalled() == 1
    assert DBTaskResult.objects.filter(status="READY").count() == 1
    assert jobs.recover_stalled() == 0  # it has a job now


def test_a_stopping_worker_gives_its_document_back(committed, monkeypatch):
    document = services.document_submit(text=PROSE, enqueue=False)
    embedder = services.get_embedder()
    real = embedder.embed

    def embed_then_stop(texts):
        stop_requested.set()  # SIGTERM arrived
        return real(texts)

    monkeypatch.setattr(embedder, "embed", embed_then_stop)
    try:
        with committed():
            assert run_queued() == [None]
    finally:
        stop_requested.clear()
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING and document.attempts == 0
    assert DBTaskResult.objects.filter(status="READY").count() == 1  # queued again for the next worker


def test_upload_bytes_are_kept_in_parts_below_the_database_packet_limit(settings):
    data = (PROSE + "\n").encode() * (17 * 1024 * 1024 // len(PROSE))  # ~17 MB: past MariaDB's 16 MB packet
    document = services.document_submit(data=data, filename="big.txt", enqueue=False)
    parts = list(UploadPart.objects.filter(document=document).values_list("data", flat=True))
    assert len(parts) == 18 and max(len(part) for part in parts) == 1024 * 1024
    assert read_upload(document) == data


@pytest.mark.django_db(transaction=True)
def test_concurrent_wait_uploads_beyond_one_per_process_wait_for_a_worker(api, monkeypatch):
    """The web process runs one `wait` job itself at a time; another waits for a worker's outcome, status kept."""
    from knowledge import views
    from tests.processes import start_worker, stop

    assert views._inline_jobs.acquire(blocking=False)  # a `wait` upload is being processed in this process
    worker = start_worker()
    try:
        response = upload(api, "bad.pdf", b"%PDF-1.4 not really a PDF")
        assert response.status_code == 422 and "damaged" in response.json()["detail"]
        assert response.json()["document"]["error_kind"] == "ExtractionFailed"
        response = upload(api, "good.txt", PROSE.encode())
        assert response.status_code == 201 and response.json()["status"] == "ready"
        assert response.json()["attempts"] == 1
    finally:
        views._inline_jobs.release()
        stop(worker)
