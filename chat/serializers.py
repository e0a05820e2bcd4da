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


def chat_turn_schema() -> dict:
    """The OpenAPI request body of a turn: a message, or retry: true, never both (as validate() says)."""
    message = {"type": "string", "maxLength": settings.CHAT_MESSAGE_MAX_CHARS,
               "pattern": ChatTurnSerializer().fields["message"].pattern}
    stream = {"type": "boolean", "default": False}
    return {"oneOf": [
        {"type": "object", "required": ["message"],
         "properties": {"message": message, "stream": stream, "retry": {"type": "boolean", "enum": [False]}}},
        {"type": "object", "required": ["retry"], "not": {"required": ["message"]},
         "properties": {"retry": {"type": "boolean", "enum": [True]}, "stream": stream}},
    ]}


class SearchQuerySerializer(serializers.Serializer):
    q = StrictCharField(trim_whitespace=True, allow_blank=False, max_length=settings.SEARCH_QUERY_MAX_CHARS)
    k = serializers.IntegerField(required=False, min_value=1, max_value=50, default=settings.RAG_TOP_K)


class SearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    score = serializers.FloatField()
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
