from django.contrib.auth.models import Group
from rest_framework import serializers

from knowledge.models import Chunk, Collection, Document
from knowledge.reading import MAX_WINDOW_CHUNKS, WINDOW_CHUNKS
from sessions_app.serializers import (
    BIDI_CONTROLS,
    CONTROL,
    MAX_ID,
    WHITESPACE,
    ModelSerializer,
    StrictCharField,
    text_pattern,
    validate_display_name,
)

NO_SUCH_COLLECTION = "No such collection."  # unknown, or not yours to read: the same words, so nothing leaks


class CollectionSerializer(ModelSerializer):
    """A collection: who may read it (`visibility`: everyone signed in, or the named `groups`, plus its owner
    and staff), how many documents it holds, and whether you may change it (its owner and staff)."""

    name = StrictCharField(max_length=100, trim_whitespace=True, refused=CONTROL + BIDI_CONTROLS,
                           validators=[validate_display_name])
    description = StrictCharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=True,
                                  refused="\x00")
    visibility = serializers.ChoiceField(choices=Collection.Visibility.choices, required=False,
                                         help_text="everyone: every signed-in user reads it; groups: only the "
                                                   "members of `groups` (and its owner, and staff).")
    groups = serializers.SlugRelatedField(many=True, slug_field="name", queryset=Group.objects.all(), required=False,
                                          help_text="Names of the groups that read it (yours, unless you are staff).")
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    document_count = serializers.IntegerField(read_only=True, default=0)
    can_manage = serializers.SerializerMethodField()

    class Meta:
        model = Collection
        fields = ["id", "name", "description", "visibility", "groups", "owner", "document_count", "can_manage",
                  "created_at"]
        read_only_fields = ["id", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and not request.user.is_staff and "groups" in self.fields:
            # A user shares a collection with the groups they are in; any other name is "does not exist".
            mine = Group.objects.filter(user=request.user) if request.user.is_authenticated else Group.objects.none()
            self.fields["groups"].child_relation.queryset = mine

    def to_internal_value(self, data):
        # DRF takes any iterable for a many-relation (a JSON object's keys, say); the schema says a list.
        groups = data.get("groups") if isinstance(data, dict) and not hasattr(data, "getlist") else None
        if groups is not None and not isinstance(groups, list):
            raise serializers.ValidationError({"groups": ["Expected a list of group names."]})
        return super().to_internal_value(data)

    def get_can_manage(self, collection: Collection) -> bool:
        request = self.context.get("request")
        return bool(request and collection.manageable_by(request.user))

    def validate_name(self, name: str) -> str:
        taken = Collection.objects.filter(name__iexact=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("A collection with this name exists already.")
        return name


def readable_collection(user, pk: int) -> Collection:
    """The collection `pk` if `user` may read it; else a 400 that does not say whether it exists."""
    collection = Collection.objects.readable_by(user).filter(pk=pk).first()
    if collection is None:
        raise serializers.ValidationError(NO_SUCH_COLLECTION)
    return collection


class CollectionIdField(serializers.IntegerField):
    """A collection's id in a request: one the requesting user may read (context["user"]), else 400."""

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)  # a whole number in range first
        return readable_collection(self.context["user"], value) if value is not None else value


class DocumentListQuerySerializer(serializers.Serializer):
    """GET /api/documents?collection=: only the documents of one collection."""

    collection = CollectionIdField(required=False, help_text="Only the documents of this collection (its id).")


class DocumentChangeSerializer(serializers.Serializer):
    """PATCH /api/documents/{id}: move the document to another collection you may read."""

    collection = CollectionIdField(help_text="The id of the collection to move it to.")


class DocumentSerializer(ModelSerializer):
    """A document and how far its job got: `stage` (queued, reading, ocr, embedding, saving; blank when ready or
    failed), pages read of `page_count` (of the stage: reading, or OCR of the pages without text), chunks
    embedded of `chunk_count`; `error` says why a failed one failed, `error_kind` what kind of failure it was
    (EmptyDocument, UnsupportedType, ExtractionFailed, EmbeddingFailed or IngestError)."""

    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Blank once the document is ready or failed: the schema must say so.
    stage = serializers.ChoiceField(choices=Document.Stage.choices, allow_blank=True, read_only=True)
    collection_name = serializers.CharField(source="collection.name", read_only=True)
    can_delete = serializers.SerializerMethodField(
        help_text="You may delete it, retry it or move it to another collection (its uploader, the collection's "
                  "owner, staff).")
    can_retry = serializers.SerializerMethodField()
    has_original = serializers.SerializerMethodField(
        help_text="Whether GET /api/documents/{id}/original downloads the uploaded file (kept once it is ready).")

    class Meta:
        model = Document
        fields = ["id", "title", "filename", "content_type", "size", "sha256", "status", "stage", "pages_read",
                  "page_count", "chunks_embedded", "chunk_count", "attempts", "error", "error_kind", "uploaded_by",
                  "collection", "collection_name", "created_at", "updated_at", "can_delete", "can_retry",
                  "has_original"]
        read_only_fields = fields

    def get_can_delete(self, document: Document) -> bool:
        request = self.context.get("request")
        return bool(request and document.deletable_by(request.user))

    def get_can_retry(self, document: Document) -> bool:
        return document.status == Document.Status.FAILED and self.get_can_delete(document)

    def get_has_original(self, document: Document) -> bool:
        return bool(document.original)


class WaitField(serializers.BooleanField):
    """A JSON boolean in a JSON body; "true"/"false" (or 1/0) in a form, which can only send text."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (self.context.get("form") and isinstance(data, str)):
            return super().to_internal_value(data)
        self.fail("invalid", input=data)


class DocumentUploadSerializer(serializers.Serializer):
    """Either a multipart `file` (+ optional title) or JSON {title, content}."""

    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)
    title = StrictCharField(max_length=300, required=False, allow_blank=True, trim_whitespace=True,
                            refused=CONTROL + BIDI_CONTROLS, validators=[validate_display_name])
    content = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    collection = CollectionIdField(required=False, help_text="The id of a collection you may read (default: "
                                                             "the default collection).")
    wait = WaitField(required=False, default=False,
                     help_text="Answer when the document is ready (201) or failed, not at once (202).")

    def validate(self, attrs):
        if ("file" in attrs) == ("content" in attrs):
            raise serializers.ValidationError("Send either a file (multipart `file`) or JSON `content`, not both.")
        return attrs


def upload_schema() -> dict:
    """The OpenAPI request bodies of an upload: a multipart file, or JSON text (with visible characters)."""
    fields = DocumentUploadSerializer().fields
    title = {"type": "string", "maxLength": 300, "pattern": fields["title"].pattern}
    # Ingest drops control characters before it looks for text (extraction.clean_text).
    content = {"type": "string", "pattern": text_pattern(blank=WHITESPACE + CONTROL)}
    file = {"type": "string", "format": "binary", "minLength": 1}
    wait = {"type": "boolean", "description": fields["wait"].help_text}
    collection = {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": fields["collection"].help_text}
    # A form's title carries no `pattern`: a client re-encodes form text (schemathesis turns some generated
    # characters into others on the way), so the pattern cannot be held to there; the server refuses the same
    # characters in both encodings (400, tests/test_documents_api.py).
    form_title = {key: value for key, value in title.items() if key != "pattern"}
    return {
        "multipart/form-data": {"type": "object", "required": ["file"],
                                "properties": {"file": file, "title": form_title, "wait": wait,
                                               "collection": collection}},
        "application/json": {"type": "object", "required": ["content"],
                             "properties": {"content": content, "title": title, "wait": wait,
                                            "collection": collection}},
    }


class ChunkSerializer(serializers.ModelSerializer):
    """A chunk with its vector by the active embedding model (the queryset comes from
    knowledge.vectors.chunks_with_vectors, which fetches those vectors in one query)."""

    embedding_model = serializers.SerializerMethodField()
    dims = serializers.SerializerMethodField()
    embedding = serializers.SerializerMethodField()

    class Meta:
        model = Chunk
        fields = ["id", "position", "text", "start_char", "end_char", "page", "token_count", "embedding_model",
                  "dims", "embedding"]
        read_only_fields = fields

    def get_embedding_model(self, chunk: Chunk) -> str | None:
        vector = _vector(chunk)
        return vector.model if vector is not None else None

    def get_dims(self, chunk: Chunk) -> int:
        vector = _vector(chunk)
        return len(vector.array) if vector is not None else 0

    def get_embedding(self, chunk: Chunk) -> list[float] | None:
        vector = _vector(chunk)
        return vector.array.tolist() if vector is not None else None


def _vector(chunk: Chunk):
    vectors = getattr(chunk, "active_vectors", None)
    return vectors[0] if vectors else None


class TextWindowQuerySerializer(serializers.Serializer):
    chunk = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                     help_text="Open at this chunk (a citation's chunk_id).")
    position = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1,
                                        help_text="Start the window at the chunk in this position (0: the start); "
                                                  "ignored with `chunk`.")
    count = serializers.IntegerField(required=False, min_value=1, max_value=MAX_WINDOW_CHUNKS, default=WINDOW_CHUNKS,
                                     help_text="Chunks in the window.")


class ReaderChunkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ["id", "position", "start_char", "end_char", "page"]
        read_only_fields = fields


class ReaderPageSerializer(serializers.Serializer):
    page = serializers.IntegerField(help_text="1-based page number.")
    start_char = serializers.IntegerField(help_text="Where the page starts in the document's text.")


class TextWindowSerializer(serializers.Serializer):
    """A window of a document's extracted text (knowledge/reading.py): `text` is characters
    [start_char, end_char) of the whole text (`length` characters); chunk and page offsets are in the whole
    text's characters too. `previous`/`next` are the URLs of the windows before and after (null at the ends)."""

    document = DocumentSerializer()
    text = serializers.CharField()
    start_char = serializers.IntegerField()
    end_char = serializers.IntegerField()
    length = serializers.IntegerField()
    first_position = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    chunks = ReaderChunkSerializer(many=True)
    pages = ReaderPageSerializer(many=True, help_text="PDFs: the page the window starts on, then each page that "
                                                      "starts inside it. Empty for documents without pages.")
    chunk = ReaderChunkSerializer(source="cited", allow_null=True, help_text="The chunk asked for with `chunk`.")
    previous = serializers.SerializerMethodField()
    next = serializers.SerializerMethodField()

    def get_previous(self, window) -> str | None:
        return self._link(window, window.previous)

    def get_next(self, window) -> str | None:
        return self._link(window, window.next)

    def _link(self, window, where) -> str | None:
        if where is None:
            return None
        position, count = where
        url = f"/api/documents/{window.document.pk}/text?position={position}&count={count}"
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url
