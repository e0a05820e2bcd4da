import unicodedata

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sessions_app.models import DEFAULT_SESSION_NAME, ChatSession, Feedback, Message

MAX_ID = 2**63 - 1  # a message id beyond a 64-bit integer would overflow the database driver, not just miss
SEARCH_MAX_CHARS = 200
SNIPPET_BEFORE, SNIPPET_AFTER = 20, 100  # characters of a search match's message around the words


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: "yes" or 1 is a mistake worth a 400, not a guess."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def validate_display_name(value: str) -> str:
    """Names are shown in the sidebar: printable text only (tabs, newlines and other control codes are refused)."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise serializers.ValidationError("The name may not contain control characters.")
    return value


class ChatSessionSerializer(serializers.ModelSerializer):
    name = StrictCharField(max_length=200, required=False, trim_whitespace=True,
                           validators=[validate_display_name])
    pinned = StrictBooleanField(required=False, help_text="Pinned chats are listed first.")
    archived = StrictBooleanField(required=False, help_text="Archived chats are listed only with ?archived=true.")
    message_count = serializers.IntegerField(read_only=True, default=0)
    match = serializers.SerializerMethodField(
        help_text="With ?search=: a snippet of the first message that holds the words (null if only the name does).")

    class Meta:
        model = ChatSession
        fields = ["id", "name", "pinned", "archived", "created_at", "updated_at", "message_count", "match"]
        read_only_fields = ["id", "created_at", "updated_at"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_match(self, session):
        content = getattr(session, "match_content", None)
        return match_snippet(content, self.context["search"]) if content and self.context.get("search") else None

    def create(self, validated_data):
        validated_data.setdefault("name", DEFAULT_SESSION_NAME)
        return super().create(validated_data)

    def update(self, instance, validated_data):
        # Renaming, pinning or archiving is not activity: the chat keeps its place (updated_at) in the list.
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save(update_fields=list(validated_data))
        return instance


class SessionListQuerySerializer(serializers.Serializer):
    """GET /api/sessions query: ?search= (title and messages) and ?archived=true (the archive, else the rest)."""

    search = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=True,
                                   max_length=SEARCH_MAX_CHARS)
    archived = serializers.BooleanField(required=False, default=False)


class FeedbackSerializer(serializers.ModelSerializer):
    rating = serializers.ChoiceField(choices=Feedback.Rating.choices)
    comment = StrictCharField(required=False, allow_blank=True, default="", trim_whitespace=True,
                              max_length=settings.FEEDBACK_COMMENT_MAX_CHARS)

    class Meta:
        model = Feedback
        fields = ["rating", "comment", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class MessageSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        choices=Message.Status.choices, read_only=True,
        help_text="`complete`; `stopped`: the user stopped it while it streamed, `content` is what had arrived; "
                  "`failed`: `error` says why, `content` holds any partial text; `streaming` is not used yet.")
    usage = serializers.JSONField(
        read_only=True, help_text='{"prompt_tokens", "completion_tokens"}; "estimated": true when a stream ended '
                                  "before the provider reported it. On a question: the tokens of its follow-up "
                                  "rewrite and of answers it had before a regenerate.")
    rewritten_query = serializers.CharField(
        read_only=True, help_text="A follow-up question as the model rewrote it to search the knowledge base "
                                  "(empty: searched without a rewrite).")
    feedback = serializers.SerializerMethodField(help_text="Your rating of this answer, or null.")

    class Meta:
        model = Message
        fields = ["id", "role", "content", "status", "sources", "model", "usage", "error", "rewritten_query",
                  "feedback", "created_at"]
        read_only_fields = fields

    @extend_schema_field(FeedbackSerializer(allow_null=True))
    def get_feedback(self, message):
        # Lists prefetch the reader's own feedback as `reader_feedback`; a message just answered has none.
        given = getattr(message, "reader_feedback", None)
        return FeedbackSerializer(given[0]).data if given else None


class ExportedSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChatSession
        fields = ["id", "name", "pinned", "archived", "created_at", "updated_at"]


class ChatExportSerializer(serializers.Serializer):
    """GET /api/sessions/{id}/export?as=json: the chat and all its messages, as the API shows them."""

    session = ExportedSessionSerializer()
    messages = MessageSerializer(many=True)
    exported_at = serializers.DateTimeField()


def match_snippet(text: str, words: str) -> str:
    """The part of `text` around the first place `words` occur (case-insensitive), on one line, with … where cut."""
    flat = " ".join(text.split())
    at = max(flat.lower().find(" ".join(words.split()).lower()), 0)  # the database may match accents; we may not
    start, end = max(at - SNIPPET_BEFORE, 0), min(at + len(words) + SNIPPET_AFTER, len(flat))
    if start:  # cut between words
        start = flat.find(" ", start, at) + 1 or at
    if end < len(flat) and (space := flat.rfind(" ", at + len(words), end)) != -1:
        end = space
    return ("…" if start else "") + flat[start:end].strip() + ("…" if end < len(flat) else "")
