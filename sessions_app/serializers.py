import unicodedata

from rest_framework import serializers

from sessions_app.models import DEFAULT_SESSION_NAME, ChatSession, Message


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def validate_display_name(value: str) -> str:
    """Names are shown in the sidebar: printable text only (tabs, newlines and other control codes are refused)."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise serializers.ValidationError("The name may not contain control characters.")
    return value


class ChatSessionSerializer(serializers.ModelSerializer):
    name = StrictCharField(max_length=200, required=False, trim_whitespace=True,
                           validators=[validate_display_name])
    message_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = ChatSession
        fields = ["id", "name", "created_at", "updated_at", "message_count"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def create(self, validated_data):
        validated_data.setdefault("name", DEFAULT_SESSION_NAME)
        return super().create(validated_data)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "role", "content", "status", "sources", "model", "usage", "error", "created_at"]
        read_only_fields = fields
