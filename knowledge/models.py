import numpy as np
from django.conf import settings
from django.db import models


class DocumentQuerySet(models.QuerySet):
    def readable_by(self, user) -> "DocumentQuerySet":
        """The documents `user` may read: the one rule every list, read, search result and citation goes through.
        Every signed-in user reads the shared knowledge base; anyone else reads nothing."""
        return self if user is not None and user.is_authenticated else self.none()


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    class Stage(models.TextChoices):
        """What a pending or processing document is doing now (blank once it is ready or failed)."""

        QUEUED = "queued"
        READING = "reading"
        OCR = "ocr"  # recognising the text of pages that have none
        EMBEDDING = "embedding"
        SAVING = "saving"

    title = models.CharField(max_length=300)
    filename = models.CharField(max_length=255, blank=True)  # as uploaded, display only; never a path
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)  # bytes of the original upload
    sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    # What kind of failure `error` describes, for programs: the name of its IngestError class (knowledge/errors.py).
    error_kind = models.CharField(max_length=40, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    # The extracted text, so a document can be re-chunked and re-embedded without the original file.
    text = models.TextField(blank=True)
    # Character offsets at which each page starts (PDF); empty for documents without pages.
    page_starts = models.JSONField(default=list, blank=True)
    # Progress of the job (knowledge/processing.py): pages read of page_count, chunks embedded of chunk_count.
    stage = models.CharField(max_length=16, choices=Stage.choices, blank=True)
    pages_read = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(default=0)
    chunks_embedded = models.PositiveIntegerField(default=0)
    # The job's lease (knowledge/lease.py): who works on it, since when it last said so, how often it was tried.
    attempts = models.PositiveSmallIntegerField(default=0)
    job_token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)  # the queue's id of the last job enqueued for it
    # The file a folder sync (`manage.py ingest --sync`) read it from; blank for uploads.
    source_path = models.CharField(max_length=4096, blank=True)
    # A new version of a synced file: it takes this document's place, in one transaction, once it is ready.
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped whenever chunks or status change: the in-memory index syncs on it (knowledge/index.py).
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # The index checks (count, max updated_at, sum id) of ready documents before every query:
        # this index answers that from the index alone.
        indexes = [models.Index(fields=["status", "updated_at", "id"], name="document_ready_sync")]

    def __str__(self) -> str:
        return self.title

    @property
    def progress_text(self) -> str:
        """Where its job is, in words (the admin; static/documents.js says the same)."""
        if self.stage == self.Stage.QUEUED:
            return "Queued"
        if self.stage == self.Stage.READING:
            return f"Reading page {self.pages_read} of {self.page_count}" if self.page_count else "Reading"
        if self.stage == self.Stage.OCR:
            return f"Recognising text (OCR): page {self.pages_read} of {self.page_count}"
        if self.stage == self.Stage.EMBEDDING:
            return f"Embedding: {self.chunks_embedded} of {self.chunk_count} chunks"
        if self.stage == self.Stage.SAVING:
            return "Saving"
        return ""


class UploadPart(models.Model):
    """The bytes of an uploaded file, kept from the upload until its document is ready (knowledge/uploads.py).

    In parts of at most 1 MB: a 20 MB upload in one row would pass MariaDB's default max_allowed_packet (16 MB).
    """

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="upload_parts")
    position = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["document_id", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="unique_upload_part")]


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()  # 0-based order within the document
    text = models.TextField()
    start_char = models.PositiveIntegerField()  # [start_char, end_char) in Document.text
    end_char = models.PositiveIntegerField()
    page = models.PositiveIntegerField(null=True, blank=True)  # 1-based page where the chunk starts
    token_count = models.PositiveIntegerField(default=0)
    # Packed little-endian float32 (see bench/ingest.py: ~5x smaller than JSON and loads much faster).
    embedding = models.BinaryField()
    embedding_model = models.CharField(max_length=200, db_index=True)
    dims = models.PositiveIntegerField()
    # The text's term counts, packed at ingest (knowledge.lexical.pack_terms): a cold process builds its BM25
    # index from these without re-tokenising every text. Empty: not computed yet (the index falls back to text).
    terms = models.BinaryField(default=b"", blank=True)

    class Meta:
        ordering = ["document_id", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="unique_chunk_position")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(self.embedding, dtype="<f4")

    @staticmethod
    def pack(vector) -> bytes:
        return np.asarray(vector, dtype="<f4").tobytes()
