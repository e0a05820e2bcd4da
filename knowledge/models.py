import uuid

import numpy as np
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from knowledge.originals import original_name, originals_storage

DEFAULT_COLLECTION = "General"  # where documents go when no collection is named (created when missing)


class CollectionQuerySet(models.QuerySet):
    def readable_by(self, user) -> "CollectionQuerySet":
        """The collections `user` may read: the one access rule (documents, search and chat go through it).

        Staff read every collection; anyone signed in reads those visible to everyone, those shared with one of
        their groups, and their own. Group membership is read by this query, so a user removed from a group
        loses its collections at the next request."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        shared = Collection.groups.through.objects.filter(group__user=user).values("collection_id")
        return self.filter(Q(visibility=Collection.Visibility.EVERYONE) | Q(pk__in=shared) | Q(owner=user))

    def default(self) -> "Collection":
        """The collection for documents given none (DEFAULT_COLLECTION, readable by everyone signed in)."""
        defaults = {"visibility": Collection.Visibility.EVERYONE, "description": "Documents for everyone."}
        try:
            with transaction.atomic():
                collection, _ = self.get_or_create(name=DEFAULT_COLLECTION, defaults=defaults)
        except IntegrityError:  # two first uploads at once: the other one created it
            collection = self.get(name=DEFAULT_COLLECTION)
        return collection


class Collection(models.Model):
    """A set of documents and who may read it: everyone signed in, or named groups (and its owner)."""

    class Visibility(models.TextChoices):
        EVERYONE = "everyone", "Everyone signed in"
        GROUPS = "groups", "Named groups only"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="collections")
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.EVERYONE)
    groups = models.ManyToManyField(Group, blank=True, related_name="collections",
                                    help_text="With visibility “named groups”: the groups whose members read it.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CollectionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def manageable_by(self, user) -> bool:
        """Staff and the owner edit it, delete it and delete or move any of its documents."""
        return bool(user.is_staff or (self.owner_id is not None and self.owner_id == user.pk))


class DocumentQuerySet(models.QuerySet):
    def readable_by(self, user) -> "DocumentQuerySet":
        """The documents `user` may read: the one rule every list, read, search result and citation goes through.
        A document is readable when its collection is (CollectionQuerySet.readable_by)."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(collection__in=Collection.objects.readable_by(user))


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
    # The uploaded file, kept once the document is ready (knowledge/originals.py); blank for text sent as JSON.
    original = models.FileField(storage=originals_storage, upload_to=original_name, max_length=200, blank=True,
                                editable=False)
    sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    # What kind of failure `error` describes, for programs: the name of its IngestError class (knowledge/errors.py).
    error_kind = models.CharField(max_length=40, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="documents"
    )
    # Who may read it (Collection.readable_by). PROTECT: a collection is deleted only once it is empty.
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="documents")
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

    def save(self, *args, **kwargs):
        if self.collection_id is None:
            self.collection = Collection.objects.default()
        super().save(*args, **kwargs)

    def deletable_by(self, user) -> bool:
        """Its uploader, its collection's owner and staff may delete or move it (given they may read it)."""
        return bool(user.is_staff or (self.uploaded_by_id is not None and self.uploaded_by_id == user.pk)
                    or (self.collection.owner_id is not None and self.collection.owner_id == user.pk))

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

    class Meta:
        ordering = ["document_id", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="unique_chunk_position")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"


class ChunkVector(models.Model):
    """A chunk's embedding by one model, as packed little-endian float32.

    Vectors live in this narrow table, not on Chunk: a 1,536-float vector beside a chunk's text passes
    InnoDB's ~8 KB in-page limit and moves off-page, which made a cold load of the index 3-4x slower
    (README, "Search index"). The primary key (model, chunk) keeps one model's vectors together on disk,
    so the index reads them with one range scan, and a chunk can hold vectors of two models while the
    embedding model is being switched (`manage.py reindex`). `document` is a copy of chunk.document, so
    the index loads a document's vectors without a join.
    """

    pk = models.CompositePrimaryKey("model", "chunk")
    model = models.CharField(max_length=200)
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="vectors")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    vector = models.BinaryField()

    def __str__(self) -> str:
        return f"{self.chunk_id} by {self.model}"

    @property
    def array(self) -> np.ndarray:
        return np.frombuffer(self.vector, dtype="<f4")

    @staticmethod
    def pack(vector) -> bytes:
        return np.asarray(vector, dtype="<f4").tobytes()


class ChunkTerms(models.Model):
    """A chunk's BM25 term counts, packed at ingest (knowledge.lexical.pack_terms), in a narrow table.

    A cold index builds its BM25 side from these without re-tokenising every text, and reads no text to get
    them. A chunk without a row (or with terms of an older tokeniser) is tokenised from its text at load.
    """

    chunk = models.OneToOneField(Chunk, on_delete=models.CASCADE, primary_key=True, related_name="term_counts")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="+")
    terms = models.BinaryField()

    def __str__(self) -> str:
        return f"terms of {self.chunk_id}"


class IndexState(models.Model):
    """One row: what the search index serves, and a version that changes with every change it must see.

    Every process's index reads this row (a primary-key lookup) before each query. `version` gets a new
    random value in the same transaction as any change to the ready documents or to the active model, so
    a change made by any process is seen by the next query anywhere; random rather than a counter, so a
    rolled-back change can never be mistaken for a later one. `active_model` is the embedding model whose
    vectors are searched (empty: none recorded yet, the configured embedder's); `target_model` is the one
    `manage.py reindex` is moving to: new documents get vectors of both until it switches.
    """

    active_model = models.CharField(max_length=200, blank=True)
    target_model = models.CharField(max_length=200, blank=True)
    version = models.BigIntegerField(default=0)
    # Changes, like `version`, with anything that changes who may read what (collections, their groups, group
    # members): a process keeps what a user may read until it does (knowledge/scope.py).
    access_version = models.BigIntegerField(default=0)
    # Names this database in the names of index snapshot files (knowledge/snapshot.py).
    instance = models.UUIDField(default=uuid.uuid4, editable=False)
    switched_at = models.DateTimeField(null=True, blank=True)  # when active_model last changed

    class Meta:
        verbose_name = "search index state"

    def __str__(self) -> str:
        return f"serving {self.active_model or 'the configured model'}"
