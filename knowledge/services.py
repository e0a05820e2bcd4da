"""The knowledge base's services: submit a document, process it (knowledge/processing.py), retry, delete, re-embed.

An upload is two steps. `document_submit` runs in the request and does only the cheap checks (size,
emptiness, type by name and magic bytes, duplicate bytes); it stores the document `pending` with its bytes
and queues a job. The job (`knowledge.processing.document_process`, run by `manage.py worker`) reads the
file in a limited child process, chunks and embeds it, and makes it `ready`, or `failed` with a reason a user
can read. `document_ingest` does both steps at once, for callers that wait (the API's `wait`, factories).

Search only ever reads chunks of ready documents, and a document becomes ready in one transaction once all
its chunks are written: no reader sees a half-ingested document.
"""

import hashlib
import logging
import time

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from knowledge import index, index_state, jobs
from knowledge.chunking import TextChunk, chunk_text
from knowledge.embeddings import get_embedder
from knowledge.errors import (
    DocumentTooLarge,
    DuplicateDocument,
    EmbeddingFailed,
    EmptyDocument,
    ExtractionFailed,
    IngestError,
    UnsupportedType,
)
from knowledge.extraction import clean_text, display_filename, extract, sniff
from knowledge.models import Chunk, Collection, Document
from knowledge.ranking import Hit
from knowledge.scope import Scope, searchable_documents
from knowledge.uploads import has_upload, store_upload
from knowledge.vectors import store_chunks
from ragchat.gate import waiting
from ragchat.openai_client import ProviderError

__all__ = [
    "CollectionNotEmpty", "DocumentTooLarge", "DuplicateDocument", "EmbeddingFailed", "EmptyDocument",
    "ExtractionFailed", "IngestError", "NotRetryable", "UnsupportedType", "collection_delete", "document_delete",
    "document_ingest", "document_move", "document_reembed", "document_retry", "document_submit", "extract",
    "search_for", "too_large",
]

log = logging.getLogger(__name__)

# Chunks embedded per call: bounds memory for big documents (the OpenAI client batches again by
# OPENAI_EMBEDDING_BATCH inside each call), and a job reports progress and checks for cancelling between calls.
EMBED_BATCH = 256
WAIT_POLL_SECONDS = 0.25
TITLE_MAX = Document._meta.get_field("title").max_length


class NotRetryable(IngestError):
    """Only a failed document can be retried, and only while its file or its text is kept."""


def search_for(*, user, query: str, k: int, scope: Scope | None = None,
               min_score: float | None = None) -> list[Hit]:
    """The k chunks that best match `query` among those `user` may read (within `scope`): the one search that
    the search API, a chat turn and the OpenAI-compatible endpoint go through."""
    served = index_state.served()  # one read of the state row for the access check and the index's change check
    return index.search(query, k, min_score=min_score, served=served,
                        documents=searchable_documents(user=user, scope=scope, served=served))


def document_submit(*, data: bytes | None = None, text: str | None = None, filename: str = "", title: str = "",
                    user=None, source_path: str = "", replaces: Document | None = None,
                    enqueue: bool = True, collection: Collection | None = None) -> Document:
    """Store a file's bytes (`data` + `filename`) or raw `text` as a `pending` Document and queue its job.

    Refuses at once, storing nothing, what is cheap to tell: too large, empty, a type we do not read, the same
    bytes as a document that is not failed (DuplicateDocument; a failed one makes way). Everything that needs
    the file parsed is the job's to find out.
    """
    if (data is None) == (text is None):
        raise ValueError("Pass exactly one of data= or text=.")
    raw = data if data is not None else text.encode("utf-8")
    if len(raw) > settings.DOCUMENT_MAX_BYTES:
        raise too_large()
    filename = display_filename(filename)
    if data is not None:
        content_type, stored_text = sniff(data, filename), ""
    else:
        content_type, stored_text = "text/plain", clean_text(text)
        if not stored_text:
            raise EmptyDocument("The document has no text.")
    sha256 = hashlib.sha256(raw).hexdigest()
    existing = Document.objects.filter(sha256=sha256).exclude(status=Document.Status.FAILED).first()
    if existing is not None:
        raise DuplicateDocument(existing)
    document = Document(
        title=_title(title, filename, stored_text or None) or "Untitled", filename=filename,
        content_type=content_type, size=len(raw), sha256=sha256, status=Document.Status.PENDING,
        stage=Document.Stage.QUEUED, uploaded_by=user, text=stored_text, source_path=source_path,
        replaces=replaces, heartbeat_at=timezone.now(),
        collection=collection or (replaces.collection if replaces is not None else Collection.objects.default()),
    )
    try:
        with transaction.atomic():
            # A failed earlier attempt of the same bytes makes way for this one.
            Document.objects.filter(sha256=sha256, status=Document.Status.FAILED).delete()
            document.save()
            if data is not None:
                store_upload(document, data)
            if enqueue:
                jobs.enqueue_processing(document)
    except IntegrityError:
        # Another request stored the same bytes between our check and our insert.
        existing = Document.objects.filter(sha256=sha256).first()
        if existing is None:
            raise
        raise DuplicateDocument(existing) from None
    log.info("Queued document %s (%s)", document.pk, document.title)
    return document


def document_ingest(*, data: bytes | None = None, text: str | None = None, filename: str = "", title: str = "",
                    user=None, source_path: str = "", replaces: Document | None = None,
                    collection: Collection | None = None) -> Document:
    """Submit and process at once, in this process: the ready Document, or the IngestError of its failure
    (the failed Document is kept, as `error.document`, so it shows in the list and can be retried)."""
    from knowledge.processing import document_process

    document = document_submit(data=data, text=text, filename=filename, title=title, user=user,
                               source_path=source_path, replaces=replaces, enqueue=False, collection=collection)
    return document_process(document_id=document.pk, raise_failure=True) or document


def document_retry(*, document: Document, enqueue: bool = True) -> Document:
    """Make a failed document pending again and queue it (unless the caller processes it itself): it is read
    again from its file, or re-embedded from its text."""
    if document.status != Document.Status.FAILED:
        raise NotRetryable(f"Only a failed document can be retried; this one is {document.status}.")
    if not has_upload(document) and not Document.objects.filter(pk=document.pk).exclude(text="").exists():
        raise NotRetryable("Neither the file nor its text is kept any more: upload the file again.")
    with transaction.atomic():
        Document.objects.filter(pk=document.pk, status=Document.Status.FAILED).update(
            status=Document.Status.PENDING, stage=Document.Stage.QUEUED, error="", error_kind="", attempts=0,
            heartbeat_at=timezone.now(), updated_at=timezone.now())
        if enqueue:
            jobs.enqueue_processing(document)
    document.refresh_from_db()
    return document


def document_delete(*, document: Document) -> None:
    """Delete a document, its chunks and its file. A job working on it notices within a beat
    (knowledge/lease.py) and stops; a queued job is dropped."""
    jobs.drop_queued(document)
    document.delete()  # chunks and upload parts go with it (on_delete=CASCADE)


def document_move(*, document: Document, collection: Collection) -> Document:
    """Put a document in another collection: who may read it changes at the next query (the index needs no
    change: it asks which documents a user may read, knowledge/scope.py)."""
    with transaction.atomic():
        Document.objects.filter(pk=document.pk).update(collection=collection)
        index_state.note_access_change()
    document.collection = collection
    return document


class CollectionNotEmpty(Exception):
    pass


def collection_delete(*, collection: Collection) -> None:
    """Delete an empty collection; one that holds documents is refused (move or delete them first)."""
    count = collection.documents.count()
    try:
        if count:
            raise ProtectedError("", set())
        collection.delete()  # a document added meanwhile: PROTECT refuses
    except ProtectedError:
        count = count or collection.documents.count()
        raise CollectionNotEmpty(f"The collection holds {count} document{'s' if count != 1 else ''}: "
                                 "move or delete them first.") from None


def document_reembed(*, document: Document) -> Document:
    """Re-chunk the stored text with the current settings and re-embed it with the active backend.

    The old chunks stay in place until the new ones are written, in one transaction.
    """
    if document.status in (Document.Status.PENDING, Document.Status.PROCESSING):
        raise NotRetryable("The document is still being processed; its job embeds it.")
    if not document.text.strip():
        raise EmptyDocument("The document has no stored text to embed (its extraction failed).")
    chunks, vectors, model = _chunk_and_embed(document.text, document.page_starts)
    with transaction.atomic():
        index_state.locked()  # before any chunk row: the order every index writer locks in
        document.chunks.all().delete()
        _store_chunks(document, chunks, vectors, model)
        document.chunk_count = len(chunks)
        document.chunks_embedded = len(chunks)
        document.status = Document.Status.READY
        document.stage = ""
        document.error = document.error_kind = ""
        document.save()  # a real save bumps updated_at, which the search index syncs on
    return document


def document_wait(*, document: Document, timeout: float) -> Document:
    """Wait (polling) until a queued document's job ends: the ready Document, or the IngestError of its failure
    (of the kind recorded, with the failed document as `error.document`). After `timeout`, as it is then."""
    deadline = time.monotonic() + timeout
    while document.status in (Document.Status.PENDING, Document.Status.PROCESSING) and time.monotonic() < deadline:
        with waiting():  # a poll holds no place at the gate (ragchat/gate.py)
            time.sleep(WAIT_POLL_SECONDS)
        document = Document.objects.filter(pk=document.pk).first()
        if document is None:
            raise IngestError("The document was deleted before it was processed.")
    if document.status == Document.Status.FAILED:
        kinds = {kind.__name__: kind for kind in (EmptyDocument, UnsupportedType, ExtractionFailed, EmbeddingFailed)}
        error = kinds.get(document.error_kind, IngestError)(document.error)
        error.document = document
        raise error
    return document


def chunk_document(text: str, page_starts: list[int]) -> list[TextChunk]:
    chunks = chunk_text(text, size=settings.CHUNK_SIZE, overlap=settings.CHUNK_OVERLAP, page_starts=page_starts)
    if not chunks:
        raise EmptyDocument("The document has no text.")
    return chunks


def embed_chunks(embedder, chunks: list[TextChunk], dims: int | None = None) -> np.ndarray:
    """One batch of chunks -> their vectors, checked: as many as chunks, all as wide as `dims` (if given)."""
    try:
        vectors = np.asarray(embedder.embed([c.text for c in chunks]), dtype="<f4")
    except ProviderError as exc:
        raise EmbeddingFailed(f"Embedding failed: {exc}") from exc
    if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
        raise EmbeddingFailed(f"The embedding service returned {len(vectors)} vectors for {len(chunks)} chunks.")
    if dims is not None and vectors.shape[1] != dims:
        # batches of different widths: the service changed models mid-way
        raise EmbeddingFailed("The embedding service returned vectors of different sizes.")
    return vectors


def _chunk_and_embed(text: str, page_starts: list[int]) -> tuple[list[TextChunk], np.ndarray, str]:
    chunks = chunk_document(text, page_starts)
    embedder = get_embedder()
    parts: list[np.ndarray] = []
    for start in range(0, len(chunks), EMBED_BATCH):
        parts.append(embed_chunks(embedder, chunks[start:start + EMBED_BATCH], parts[0].shape[1] if parts else None))
    return chunks, np.vstack(parts), embedder.model


def _store_chunks(document: Document, chunks: list[TextChunk], vectors: np.ndarray, model: str) -> None:
    """Write the chunks, their term counts and their vectors (`model`'s, and any other model the search index
    needs now: knowledge/vectors.py)."""
    rows = Chunk.objects.bulk_create(
        [
            Chunk(document=document, position=c.position, text=c.text, start_char=c.start_char,
                  end_char=c.end_char, page=c.page, token_count=c.token_count)
            for c in chunks
        ],
        batch_size=500,
    )
    try:
        store_chunks(document=document, chunks=rows, vectors=vectors, model=model)
    except ProviderError as exc:  # embedding for the other model the index needs failed
        raise EmbeddingFailed(f"Embedding failed: {exc}") from exc


def _title(title: str, filename: str, text: str | None) -> str:
    """The given title, else the document's own top heading (`# ...`), else the file name without
    extension, else the text's first line. A heading names a document better than its file name does."""
    title = " ".join((title or "").split())
    first_line = next((line.strip() for line in (text or "").splitlines() if line.strip()), "")
    if not title and first_line.startswith("# "):
        title = " ".join(first_line[2:].split())
    if not title and filename:
        title = filename.rsplit(".", 1)[0] if "." in filename.strip(".") else filename
    if not title and first_line:
        title = " ".join(first_line.lstrip("#").split())
    return title[:TITLE_MAX]


def title_from_text(title: str, filename: str, text: str) -> str:
    """After reading: a title that was only the file name gives way to the document's own top heading."""
    automatic = _title("", filename, None) or "Untitled"
    return (_title("", filename, text) or "Untitled") if title == automatic else title


def too_large() -> DocumentTooLarge:
    """The refusal of a document over DOCUMENT_MAX_BYTES, worded once for the API, the admin and the command
    (each of which refuses before reading the bytes, so the limit also bounds memory)."""
    return DocumentTooLarge(f"The document is larger than {settings.DOCUMENT_MAX_BYTES / 1024 / 1024:g} MB.")
