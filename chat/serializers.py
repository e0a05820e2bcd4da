from django.conf import settings
from rest_framework import serializers

from sessions_app.serializers import MAX_ID, MessageSerializer, StrictBooleanField, StrictCharField


class ChatTurnSerializer(serializers.Serializer):
    """POST /api/sessions/{id}/chat: ask, retry (regenerate) or edit the last question; optional "stream": true.

    - {"message": "..."}: a new question.
    - {"retry": true}: the last question answered again; its answer (failed, stopped or complete), if any, is
      replaced once the new one is saved. The question is not duplicated.
    - {"message": "...", "edit": <id of the last question>}: the last question reworded and answered again;
      its old answer is replaced. Another message than the last question: 409; not in this chat: 404.
    """

    message = StrictCharField(required=False, trim_whitespace=True, allow_blank=False,
                              max_length=settings.CHAT_MESSAGE_MAX_CHARS)
    stream = StrictBooleanField(required=False, default=False)
    retry = StrictBooleanField(required=False, default=False)
    edit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                    help_text="The id of the chat's last question, to reword it (with `message`).")

    def validate(self, attrs):
        if attrs["retry"] and ("message" in attrs or "edit" in attrs):
            raise serializers.ValidationError("Send either a message or retry, not both.")
        if not attrs["retry"] and "message" not in attrs:
            raise serializers.ValidationError({"message": ["This field is required."]})
        return attrs


def chat_turn_schema() -> dict:
    """The OpenAPI request body of a turn: a message (maybe rewording the last question, `edit`), or retry: true,
    never both (as validate() says)."""
    fields = ChatTurnSerializer().fields
    message = {"type": "string", "maxLength": settings.CHAT_MESSAGE_MAX_CHARS, "pattern": fields["message"].pattern}
    edit = {"type": "integer", "minimum": 1, "maximum": fields["edit"].max_value,
            "description": fields["edit"].help_text}
    stream = {"type": "boolean", "default": False}
    return {"oneOf": [
        {"type": "object", "required": ["message"],
         "properties": {"message": message, "edit": edit, "stream": stream,
                        "retry": {"type": "boolean", "enum": [False]}}},
        {"type": "object", "required": ["retry"],
         "not": {"anyOf": [{"required": ["message"]}, {"required": ["edit"]}]},
         "properties": {"retry": {"type": "boolean", "enum": [True]}, "stream": stream}},
    ]}


class SearchQuerySerializer(serializers.Serializer):
    q = StrictCharField(trim_whitespace=True, allow_blank=False, max_length=settings.SEARCH_QUERY_MAX_CHARS)
    k = serializers.IntegerField(required=False, min_value=1, max_value=50, default=settings.RAG_TOP_K)


class SearchHitSerializer(serializers.Serializer):
    """One hit of GET /api/search; hits come best first, in the order of `score`."""

    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    score = serializers.FloatField(help_text=(
        "What the hit was ranked by, higher is better: the weighted sum of the chunk's z-scores in the vector "
        "and the keyword (BM25) rankings (0: an average candidate); without keyword ranking, the cosine."))
    cosine = serializers.FloatField(help_text=(
        "Cosine similarity of the query's and the chunk's embeddings, from -1 to 1 (RAG_MIN_SCORE applies to it)."))
    text = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    position = serializers.IntegerField()

    @classmethod
    def items(cls, hits) -> list[dict]:
        """What many=True writes, for Hits (knowledge.ranking), whose fields already hold these JSON types:
        without a copy of every field per response, which was a tenth of a search's Python time."""
        names = list(cls._declared_fields)
        return [{name: getattr(hit, name) for name in names} for hit in hits]


class ConfigSerializer(serializers.Serializer):
    chat_backend = serializers.CharField()
    chat_model = serializers.CharField()
    embedding_backend = serializers.CharField()
    embedding_model = serializers.CharField()


class ChatReplySerializer(serializers.Serializer):
    """201: the question and its answer; 502 adds `detail` (the assistant message is then `failed`)."""

    user_message = MessageSerializer()
    assistant_message = MessageSerializer()


class ChatFailureSerializer(ChatReplySerializer):
    detail = serializers.CharField()
