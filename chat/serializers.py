from django.conf import settings
from rest_framework import serializers

from sessions_app.serializers import MessageSerializer, StrictCharField


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: "yes" or 1 is a mistake worth a 400, not a guess."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class ChatTurnSerializer(serializers.Serializer):
    """POST /api/sessions/{id}/chat: {"message": "..."} or {"retry": true}; optional "stream": true."""

    message = StrictCharField(required=False, trim_whitespace=True, allow_blank=False,
                              max_length=settings.CHAT_MESSAGE_MAX_CHARS)
    stream = StrictBooleanField(required=False, default=False)
    retry = StrictBooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs["retry"] and "message" in attrs:
            raise serializers.ValidationError("Send either a message or retry, not both.")
        if not attrs["retry"] and "message" not in attrs:
            raise serializers.ValidationError({"message": ["This field is required."]})
        return attrs


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(trim_whitespace=True, allow_blank=False, max_length=settings.CHAT_MESSAGE_MAX_CHARS)
    k = serializers.IntegerField(required=False, min_value=1, max_value=50, default=settings.RAG_TOP_K)


class SearchHitSerializer(serializers.Serializer):
    """One hit of GET /api/search; hits come best first, in the order of `score`."""

    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    score = serializers.FloatField(help_text=(
        "What the hit was ranked by, higher is better: the fused rank of the vector and the keyword (BM25) "
        "rankings, scaled so that 1.0 is first in both; without keyword ranking, the cosine."))
    cosine = serializers.FloatField(help_text=(
        "Cosine similarity of the query's and the chunk's embeddings, from -1 to 1 (RAG_MIN_SCORE applies to it)."))
    text = serializers.CharField()
    page = serializers.IntegerField(allow_null=True)
    position = serializers.IntegerField()


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
