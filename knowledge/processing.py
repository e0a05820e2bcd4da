"""The job: a pending document -> a ready one (or a failed one that says why). Run by `manage.py worker`.

1. Claim the document (knowledge/lease.py): pending -> processing, with a token only this job holds.
2. Read it: its uploaded bytes in a child process with hard limits (knowledge/sandbox.py), or its stored text.
3. Chunk it, then embed and write the chunks batch by batch, reporting progress; the document is still
   `processing`, so search does not see them.
4. In one transaction: check every chunk is there, take the place of the version it replaces (folder sync),
   become `ready`, keep the uploaded bytes as the original file (knowledge/originals.py) and drop their rows.
   Only now does search see it.
Every step beats the lease: a deleted document stops the job within a beat (the reading child is killed).
A reason a user can read ends the job as `failed`; a worker asked to stop gives the document back to the queue.
"""

import logging

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from knowledge import jobs, services
from knowledge.embeddings import get_embedder
from knowledge.errors import IngestError
from knowledge.extraction import Extracted
from knowledge.lease import Cancelled, Interrupted, Lease
from knowledge.models import Document
from knowledge.originals import delete_original, store_original
from knowledge.sandbox import Limits, read_file
from knowledge.uploads import discard_upload, read_upload

log = logging.getLogger(__name__)

UNEXPECTED = "An unexpected error stopped the processing of this document; the server log has the details."


def document_process(*, document_id: int, background: bool = False, raise_failure: bool = False) -> Document | None:
    """Process a pending document. Returns it ready or failed, or None when this job did not finish it
    (not pending any more, deleted while processing, or given back because the worker is stopping).
    `background`: beat from a thread too (workers; see Lease.kept_alive). `raise_failure`: raise the
    IngestError of a failure (after recording it), with the failed document as `error.document`."""
    lease = Lease.claim(document_id)
    if lease is None:
        return None
    try:
        if background:
            with lease.kept_alive():
                _process(lease)
        else:
            _process(lease)
    except (Cancelled, Interrupted) as stop:
        if isinstance(stop, Interrupted):
            _give_back(lease)
        return None
    except IngestError as exc:
        document = _fail(lease, str(exc), type(exc).__name__)
        if raise_failure:
            exc.document = document
            raise
        return document
    except Exception as exc:
        log.exception("Processing document %s failed", document_id)
        document = _fail(lease, UNEXPECTED, IngestError.__name__)
        if raise_failure:
            error = IngestError(UNEXPECTED)
            error.document = document
            raise error from exc
        return document
    return Document.objects.get(pk=document_id)


def _process(lease: Lease) -> None:
    document = lease.documents().first()
    if document is None:
        raise Cancelled()  # deleted between the claim and now
    data = read_upload(document)
    if data is not None:
        extracted = _read(lease, data, document.filename)
        document.text, document.page_starts = extracted.text, extracted.page_starts
        document.title = services.title_from_text(document.title, document.filename, extracted.text)
        lease.documents().update(text=extracted.text, page_starts=extracted.page_starts, title=document.title,
                                 content_type=extracted.content_type)
    chunks = services.chunk_document(document.text, document.page_starts)
    lease.beat(force=True, stage=Document.Stage.EMBEDDING, chunk_count=len(chunks), chunks_embedded=0)
    with lease.locked() as locked:
        locked.chunks.all().delete()  # what an interrupted earlier attempt left
    embedder = get_embedder()
    dims = None
    for start in range(0, len(chunks), services.EMBED_BATCH):
        batch = chunks[start:start + services.EMBED_BATCH]
        vectors = services.embed_chunks(embedder, batch, dims)
        dims = vectors.shape[1]
        with lease.locked() as locked:
            services._store_chunks(locked, batch, vectors, embedder.model)
        lease.beat(chunks_embedded=start + len(batch))
    lease.beat(force=True, stage=Document.Stage.SAVING, chunks_embedded=len(chunks))
    _finish(lease, len(chunks), data)


def _read(lease: Lease, data: bytes, filename: str) -> Extracted:
    def progress(stage: str, done: int, total: int) -> None:
        stage = Document.Stage.OCR if stage == "ocr" else Document.Stage.READING
        lease.beat(stage=stage, pages_read=done, page_count=total)

    limits = Limits(wall_seconds=settings.INGEST_READ_SECONDS, cpu_seconds=settings.INGEST_READ_CPU_SECONDS,
                    memory_mb=settings.INGEST_READ_MEMORY_MB, nice=settings.INGEST_NICE)
    reading = read_file(data, filename, limits=limits, progress=progress, keep_going=lease.beat,
                        ocr_languages=settings.OCR_LANGUAGES if settings.OCR_ENABLED else None,
                        ocr_dpi=settings.OCR_DPI)
    log.info("Read document %s in %.2f CPU s", lease.document_id, reading.cpu_seconds)
    return reading.extracted


def _finish(lease: Lease, chunk_count: int, data: bytes | None) -> None:
    """All chunks are written: in one transaction, the document becomes ready (and searchable) and its uploaded
    bytes become its original file. The file is written first; if the transaction does not commit, it goes."""
    kept = ""
    if data is not None:
        document = lease.documents().first()
        if document is None:
            raise Cancelled()
        kept = store_original(document, data)
    try:
        _make_ready(lease, chunk_count, kept)
    except BaseException:
        delete_original(kept)
        raise


def _make_ready(lease: Lease, chunk_count: int, original: str) -> None:
    with lease.locked() as document:
        written = document.chunks.count()
        if written != chunk_count:
            raise IngestError(f"Only {written} of {chunk_count} chunks were stored; try again.")
        if document.replaces_id:
            # A new version of a synced file: the old one was searchable until now, and goes in this transaction.
            Document.objects.filter(pk=document.replaces_id).delete()
        document.status = Document.Status.READY
        document.stage = ""
        document.error = document.error_kind = ""
        document.job_token = ""
        document.replaces = None
        document.chunk_count = document.chunks_embedded = chunk_count
        if original:
            document.original.name = original
        document.save()  # a real save bumps updated_at, which the search index syncs on
        discard_upload(document)
    log.info("Document %s (%s) is ready: %d chunks", document.pk, document.title, chunk_count)


def _fail(lease: Lease, reason: str, kind: str) -> Document | None:
    """Record why; the chunks written so far go (they were never searchable). The file stays, for a retry."""
    try:
        with lease.locked() as document:
            document.chunks.all().delete()
            document.status = Document.Status.FAILED
            document.stage = ""
            document.error = reason
            document.error_kind = kind
            document.job_token = ""
            document.chunk_count = document.chunks_embedded = 0
            document.save()
    except Cancelled:
        return None  # deleted meanwhile: nothing to record
    log.info("Document %s failed: %s", document.pk, reason)
    return document


def _give_back(lease: Lease) -> None:
    """The worker is stopping: the document goes back to the queue, and this attempt does not count."""
    if lease.documents().update(status=Document.Status.PENDING, stage=Document.Stage.QUEUED, job_token="",
                                attempts=F("attempts") - 1, heartbeat_at=timezone.now()):
        jobs.enqueue_processing(Document.objects.get(pk=lease.document_id))
