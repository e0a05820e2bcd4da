from rest_framework import serializers

from knowledge.models import Chunk, Document
from sessions_app.serializers import validate_display_name


class DocumentSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    can_delete = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = ["id", "title", "filename", "content_type", "size", "sha256", "status", "error", "chunk_count",
                  "uploaded_by", "created_at", "can_delete"]
        read_only_fields = fields

    def get_can_delete(self, document: Document) -> bool:
        request = self.context.get("request")
        return bool(request and can_delete(request.user, document))


def can_delete(user, document: Document) -> bool:
    return bool(user.is_staff or (document.uploaded_by_id is not None and document.uploaded_by_id == user.pk))


class DocumentUploadSerializer(serializers.Serializer):
    """Either a multipart `file` (+ optional title) or JSON {title, content}."""

    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)
    title = serializers.CharField(max_length=300, required=False, allow_blank=True, trim_whitespace=True,
                                  validators=[validate_display_name])
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    def validate(self, attrs):
        if ("file" in attrs) == ("content" in attrs):
            raise serializers.ValidationError("Send either a file (multipart `file`) or JSON `content`, not both.")
        return attrs


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
