"""Ingesting documents into the knowledge base: extract -> chunk -> embed -> store, all or nothing.

Embedding (the slow part, maybe a remote call) runs *before* the write transaction, so the
transaction only inserts rows and stays short. A document is created `ready` in the same transaction
that writes all its chunks: no reader ever sees a half-ingested document.
"""

import hashlib
import logging

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from knowledge import index_state
from knowledge.chunking import TextChunk, chunk_text
from knowledge.embeddings import get_embedder
from knowledge.extraction import (
    DocumentTooLarge,
    EmptyDocument,
    Extracted,
    ExtractionFailed,
    IngestError,
    UnsupportedType,
    clean_text,
    display_filename,
    extract,
)
from knowledge.models import Chunk, Document
from knowledge.vectors import store_chunks
from ragchat.openai_client import ProviderError

__all__ = [
    "DocumentTooLarge", "DuplicateDocument", "EmbeddingFailed", "EmptyDocument", "ExtractionFailed",
    "IngestError", "UnsupportedType", "document_delete", "document_ingest", "document_reembed", "too_large",
]

log = logging.getLogger(__name__)

# Chunks embedded per call: bounds memory for big documents (the OpenAI client batches again by
# OPENAI_EMBEDDING_BATCH inside each call).
EMBED_BATCH = 256
TITLE_MAX = Document._meta.get_field("title").max_length


class DuplicateDocument(IngestError):
    http_status = 409

    def __init__(self, existing: Document):
        super().__init__(f"This document was already uploaded as “{existing.title}”.")
        self.existing = existing


class EmbeddingFailed(IngestError):
    http_status = 502


def document_ingest(*, data: bytes | None = None, text: str | None = None, filename: str = "",
                    title: str = "", user=None, keep_failed: bool = False) -> Document:
    """Store a file's bytes (`data` + `filename`) or raw `text` as a ready Document with its chunks.

    Raises an IngestError subclass and stores nothing on failure; with `keep_failed` (admin and the
    ingest command) a Document marked `failed` with the reason is kept instead, so operators see it
    (not for an unsupported type), and the error carries it as `error.document`.
    The same content again raises DuplicateDocument carrying the existing document.
    """
    if (data is None) == (text is None):
        raise ValueError("Pass exactly one of data= or text=.")
    filename = display_filename(filename)
    raw = data if data is not None else text.encode("utf-8")
    sha256 = hashlib.sha256(raw).hexdigest()
    requested_title, title = title, _title(title, filename, text)
    extracted: Extracted | None = None
    try:
        if len(raw) > settings.DOCUMENT_MAX_BYTES:
            raise too_large()
        existing = Document.objects.filter(sha256=sha256).first()
        if existing is not None and existing.status != Document.Status.FAILED:
            raise DuplicateDocument(existing)
        if data is not None:
            extracted = extract(data, filename)
        else:
            extracted = Extracted(text=clean_text(text), content_type="text/plain")
            if not extracted.text:
                raise EmptyDocument("The document has no text.")
        title = _title(requested_title, filename, extracted.text)
        chunks, vectors, model = _chunk_and_embed(extracted.text, extracted.page_starts)
        document = Document(
            title=title, filename=filename, content_type=extracted.content_type, size=len(raw), sha256=sha256,
            status=Document.Status.READY, chunk_count=len(chunks), uploaded_by=user, text=extracted.text,
            page_starts=extracted.page_starts,
        )
        try:
            with transaction.atomic():
                # A failed earlier attempt of the same bytes makes way for this one.
                Document.objects.filter(sha256=sha256, status=Document.Status.FAILED).delete()
                document.save()
                _store_chunks(document, chunks, vectors, model)
        except IntegrityError:
            # Another request stored the same bytes between our check and our insert.
            existing = Document.objects.filter(sha256=sha256).first()
            if existing is None:
                raise
            raise DuplicateDocument(existing) from None
    except IngestError as exc:
        # A file of a type we do not read is not a document at all: nothing to keep for it.
        if keep_failed and not isinstance(exc, DuplicateDocument | UnsupportedType):
            exc.document = _record_failure(sha256=sha256, title=title or filename or "Untitled",
                                           filename=filename, size=len(raw), user=user, reason=str(exc),
                                           extracted=extracted)
        raise
    log.info("Ingested document %s (%s): %d chunks", document.pk, document.title, document.chunk_count)
    return document


def document_reembed(*, document: Document) -> Document:
    """Re-chunk the stored text with the current settings and re-embed it with the active backend.

    The old chunks stay in place until the new ones are written, in one transaction.
    """
    if not document.text.strip():
        raise EmptyDocument("The document has no stored text to embed (its extraction failed).")
    chunks, vectors, model = _chunk_and_embed(document.text, document.page_starts)
    with transaction.atomic():
        index_state.locked()  # before any chunk row: the order every index writer locks in
        document.chunks.all().delete()
        _store_chunks(document, chunks, vectors, model)
        document.chunk_count = len(chunks)
        document.status = Document.Status.READY
        document.error = ""
        document.save()  # a real save bumps updated_at, which the search index syncs on
    return document


def document_delete(*, document: Document) -> None:
    document.delete()  # chunks go with it (on_delete=CASCADE)


def _chunk_and_embed(text: str, page_starts: list[int]) -> tuple[list[TextChunk], np.ndarray, str]:
    chunks = chunk_text(text, size=settings.CHUNK_SIZE, overlap=settings.CHUNK_OVERLAP, page_starts=page_starts)
    if not chunks:
        raise EmptyDocument("The document has no text.")
    embedder = get_embedder()
    parts = []
    try:
        for start in range(0, len(chunks), EMBED_BATCH):
            parts.append(embedder.embed([c.text for c in chunks[start:start + EMBED_BATCH]]))
    except ProviderError as exc:
        raise EmbeddingFailed(f"Embedding failed: {exc}") from exc
    try:
        vectors = np.vstack(parts).astype("<f4", copy=False)
    except ValueError as exc:  # batches of different widths: the service changed models mid-way
        raise EmbeddingFailed("The embedding service returned vectors of different sizes.") from exc
    if vectors.shape[0] != len(chunks):
        raise EmbeddingFailed(f"The embedding service returned {vectors.shape[0]} vectors for {len(chunks)} chunks.")
    return chunks, vectors, embedder.model


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


def _record_failure(*, sha256: str, title: str, filename: str, size: int, user, reason: str,
                    extracted: Extracted | None) -> Document | None:
    """Keep a `failed` Document (no chunks) so the admin and the command can show why.

    When extraction succeeded (the embedding failed), the text is kept too: `reindex --failed` or the
    admin's re-embed action can then finish the job without the original file.
    """
    if Document.objects.filter(sha256=sha256).exclude(status=Document.Status.FAILED).exists():
        return None  # never overwrite a good document with the record of a failed attempt
    with transaction.atomic():
        document, _ = Document.objects.update_or_create(
            sha256=sha256,
            defaults={"title": title[:TITLE_MAX], "filename": filename, "size": size, "status": Document.Status.FAILED,
                      "error": reason, "chunk_count": 0, "uploaded_by": user,
                      "content_type": extracted.content_type if extracted else "",
                      "text": extracted.text if extracted else "",
                      "page_starts": extracted.page_starts if extracted else []},
        )
    return document


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


def too_large() -> DocumentTooLarge:
    """The refusal of a document over DOCUMENT_MAX_BYTES, worded once for the API, the admin and the command
    (each of which refuses before reading the bytes, so the limit also bounds memory)."""
    return DocumentTooLarge(f"The document is larger than {settings.DOCUMENT_MAX_BYTES / 1024 / 1024:g} MB.")
