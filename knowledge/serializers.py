from rest_framework import serializers

from knowledge.models import Chunk, Document
from sessions_app.serializers import (
    BIDI_CONTROLS,
    CONTROL,
    WHITESPACE,
    ModelSerializer,
    StrictCharField,
    text_pattern,
    validate_display_name,
)


class DocumentSerializer(ModelSerializer):
    """A document and how far its job got: `stage` (queued, reading, ocr, embedding, saving; blank when ready or
    failed), pages read of `page_count` (of the stage: reading, or OCR of the pages without text), chunks
    embedded of `chunk_count`; `error` says why a failed one failed, `error_kind` what kind of failure it was
    (EmptyDocument, UnsupportedType, ExtractionFailed, EmbeddingFailed or IngestError)."""

    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Blank once the document is ready or failed: the schema must say so.
    stage = serializers.ChoiceField(choices=Document.Stage.choices, allow_blank=True, read_only=True)
    can_delete = serializers.SerializerMethodField()
    can_retry = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = ["id", "title", "filename", "content_type", "size", "sha256", "status", "stage", "pages_read",
                  "page_count", "chunks_embedded", "chunk_count", "attempts", "error", "error_kind", "uploaded_by",
                  "created_at", "updated_at", "can_delete", "can_retry"]
        read_only_fields = fields

    def get_can_delete(self, document: Document) -> bool:
        request = self.context.get("request")
        return bool(request and can_delete(request.user, document))

    def get_can_retry(self, document: Document) -> bool:
        return document.status == Document.Status.FAILED and self.get_can_delete(document)


def can_delete(user, document: Document) -> bool:
    return bool(user.is_staff or (document.uploaded_by_id is not None and document.uploaded_by_id == user.pk))


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
    # A form's title carries no `pattern`: a client re-encodes form text (schemathesis turns some generated
    # characters into others on the way), so the pattern cannot be held to there; the server refuses the same
    # characters in both encodings (400, tests/test_documents_api.py).
    form_title = {key: value for key, value in title.items() if key != "pattern"}
    return {
        "multipart/form-data": {"type": "object", "required": ["file"],
                                "properties": {"file": file, "title": form_title, "wait": wait}},
        "application/json": {"type": "object", "required": ["content"],
                             "properties": {"content": content, "title": title, "wait": wait}},
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
