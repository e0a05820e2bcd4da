import sys
from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.exceptions import NotFound
from rest_framework.settings import api_settings

from ragchat.db import write_fields
from sessions_app.models import DEFAULT_SESSION_NAME, ChatSession, Feedback, Message

MAX_ID = 2**63 - 1  # a message id beyond a 64-bit integer would overflow the database driver, not just miss
SEARCH_MAX_CHARS = 200
SNIPPET_BEFORE, SNIPPET_AFTER = 20, 100  # characters of a search match's message around the words

# What str.strip() (DRF's trim_whitespace) removes, and the control characters (category Cc).
WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
CONTROL = "".join(chr(c) for c in range(0x20)) + "".join(chr(c) for c in range(0x7F, 0xA0))
# Bidirectional embeddings, overrides and isolates (U+202A-202E, U+2066-2069) reorder the text around them:
# in a name they can make "exe.txt" read "txt.exe" ("Trojan Source"). Marks (LRM, RLM) only hint, and stay.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly turning them into text.

    Its length limit applies to the text as sent (before trimming), and `refused` names characters its
    validators refuse besides NUL: `pattern` says both, with "not only whitespace" unless blank is allowed,
    for the OpenAPI schema (ragchat/schema.py), so that the schema accepts exactly what the API accepts.
    """

    def __init__(self, *, refused: str = "", **kwargs):
        self.refused = "\x00" + refused
        super().__init__(**kwargs)

    @property
    def pattern(self) -> str:
        return text_pattern(refused=self.refused, allow_blank=self.allow_blank)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        # Before trimming: Python counts some control characters (\x1c-\x1f, \x85) as whitespace, and a refused
        # character must not slip through by standing at either end.
        if any(ch in self.refused for ch in data):
            raise serializers.ValidationError(_refusal(data))
        return super().to_internal_value(data)


def text_pattern(*, refused: str = "\x00", blank: str = WHITESPACE, allow_blank: bool = False) -> str:
    """A regex for text with none of `refused` and, unless blank is allowed, one character not in `blank`."""
    allowed = f"[^{_char_class(refused)}]*"
    if allow_blank:
        return f"^{allowed}$"
    return f"^{allowed}[^{_char_class(blank + refused)}]{allowed}$"


def _char_class(chars: str) -> str:
    """The inside of a regex character class for `chars`, as runs of \\uXXXX escapes (Python and ECMA agree)."""
    codes = sorted({ord(c) for c in chars})
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in runs)
class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only: "yes" or 1 is a mistake worth a 400, not a guess."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def validate_display_name(value: str) -> str:
    """Names are shown in the sidebar: printable text only (tabs, newlines and other control codes are refused,
    and so are the bidirectional controls that reorder what is shown)."""
    if any(ch in CONTROL or ch in BIDI_CONTROLS for ch in value):
        raise serializers.ValidationError(_refusal(value))
    return value


def _refusal(value: str) -> str:
    if any(ch in BIDI_CONTROLS for ch in value) and not any(ch in CONTROL for ch in value):
        return "The name may not contain bidirectional override or isolate characters."
    if "\x00" in value and not any(ch in CONTROL[1:] for ch in value):
        return "Null characters are not allowed."
    return "The name may not contain control characters."


class UTCDateTimeField(serializers.DateTimeField):
    """A read-out of a stored datetime exactly as DRF writes it ("2026-11-25T16:08:44.790801Z"), without the
    time-zone lookup DRF makes per value: stored datetimes are UTC already (USE_TZ, TIME_ZONE = "UTC"). A list
    of 50 chats writes 100 of them, and that lookup was a fifth of the list's time."""

    def to_representation(self, value):
        if not isinstance(value, datetime) or getattr(self, "format", api_settings.DATETIME_FORMAT) != ISO_8601:
            return super().to_representation(value)
        text = value.astimezone(UTC).isoformat() if value.utcoffset() else value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, with model datetimes written by UTCDateTimeField."""

    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.DateTimeField: UTCDateTimeField}


SCOPE_MAX_ITEMS = 100
SCOPE_FIELDS = ("scope", "scope_items")


class ScopeSerializer(serializers.Serializer):
    """What a chat's retrieval looks inside: these collections and documents (both empty: all you may read).
    Only ids you may read are accepted; any other is refused as unknown, without saying whether it exists."""

    collections = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                        max_length=SCOPE_MAX_ITEMS, required=False, default=list)
    documents = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                      max_length=SCOPE_MAX_ITEMS, required=False, default=list)

    def validate(self, attrs):
        from knowledge.models import Collection, Document

        user = self.context["request"].user
        found = {"collections": Collection.objects.readable_by(user), "documents": Document.objects.readable_by(user)}
        chosen, refused = {}, {}
        for kind, readable in found.items():
            ids = list(dict.fromkeys(attrs.get(kind, [])))
            chosen[kind] = list(readable.filter(pk__in=ids)) if ids else []
            unknown = sorted(set(ids) - {item.pk for item in chosen[kind]})
            if unknown:
                refused[kind] = [f"No such {kind[:-1]}: {', '.join(map(str, unknown))}."]
        if refused:
            raise serializers.ValidationError(refused)
        return chosen

    def get_attribute(self, session):
        return session

    def to_representation(self, session):
        return scope_ids(self.parent.scope_items_of(session))


def scope_ids(items: list[dict]) -> dict:
    return {"collections": [i["id"] for i in items if i["kind"] == "collection"],
            "documents": [i["id"] for i in items if i["kind"] == "document"]}


class ScopeItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["collection", "document"])
    id = serializers.IntegerField()
    name = serializers.CharField()


class ChatSessionSerializer(ModelSerializer):
    name = StrictCharField(max_length=200, required=False, trim_whitespace=True, refused=CONTROL + BIDI_CONTROLS,
                           validators=[validate_display_name])
    pinned = StrictBooleanField(required=False, help_text="Pinned chats are listed first.")
    archived = StrictBooleanField(required=False, help_text="Archived chats are listed only with ?archived=true.")
    message_count = serializers.IntegerField(read_only=True, default=0)
    match = serializers.SerializerMethodField(
        help_text="With ?search=: a snippet of the first message that holds the words (null if only the name does).")
    scope = ScopeSerializer(required=False, help_text="Limit the chat's retrieval to these collections and documents "
                                                      "(ids; both empty: everything you may read).")
    scope_items = serializers.SerializerMethodField(
        help_text="The scope's collections and documents with their names, for showing it (empty: all documents).")

    class Meta:
        model = ChatSession
        fields = ["id", "name", "pinned", "archived", "created_at", "updated_at", "message_count", "match", "scope",
                  "scope_items"]
        read_only_fields = ["id", "created_at", "updated_at"]

    @extend_schema_field(ScopeItemSerializer(many=True))
    def get_scope_items(self, session):
        return self.scope_items_of(session)

    def scope_items_of(self, session) -> list[dict]:
        """The scope's items that the reader may read now (ids they lost access to are not named)."""
        if session.pk is None:
            return []
        if getattr(session, "_scope_items", None) is None:
            session._scope_items = self._read_scope_items(session)
        return session._scope_items

    def _read_scope_items(self, session) -> list[dict]:
        readable = self._readable_collections()
        items = [{"kind": "collection", "id": c.pk, "name": c.name} for c in session.scope_collections.all()
                 if readable is None or c.pk in readable]
        items += [{"kind": "document", "id": d.pk, "name": d.title} for d in session.scope_documents.all()
                  if readable is None or d.collection_id in readable]
        return items

    def _readable_collections(self) -> set[int] | None:
        """Ids of the collections the reader may read (None: all), read once per response."""
        from knowledge.models import Collection

        if "readable_collections" not in self.context:
            request = self.context.get("request")
            user = request.user if request is not None else None
            if user is not None and user.is_staff:
                self.context["readable_collections"] = None
            else:
                readable = Collection.objects.readable_by(user).values_list("pk", flat=True)
                self.context["readable_collections"] = set(readable)
        return self.context["readable_collections"]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_match(self, session):
        content = getattr(session, "match_content", None)
        return match_snippet(content, self.context["search"]) if content and self.context.get("search") else None

    def list_items(self, rows: list[dict], *, written: bool = False) -> list[dict]:
        """What many=True writes for a page of the list, from rows of `values(*stored_fields())` with
        `message_count` (and `match_content` when searching) added: the same fields and representations,
        without a model instance and an attribute lookup per field and row, which were half a page's time.
        written: the rows' values are their representations already (sessions_app/listing.py)."""
        search = self.context.get("search")
        scopes = self._page_scope_items([row["id"] for row in rows if row.get("has_scope", True)])
        if written:  # the fields in their order, then those added below (as `self.fields` has them)
            names = [*self.stored_fields(), "message_count"]
        else:
            plain = [(name, field) for name, field in self.fields.items() if name not in ("match", *SCOPE_FIELDS)]
        items = []
        for row in rows:
            if written:
                item = {name: row[name] for name in names}
            else:
                item = {name: None if row[name] is None else field.to_representation(row[name])
                        for name, field in plain}
            content = row.get("match_content")
            item["match"] = match_snippet(content, search) if content and search else None
            scope_items = scopes.get(str(row["id"]), [])
            item["scope"] = scope_ids(scope_items)
            item["scope_items"] = scope_items
            items.append(item)
        return items

    def _page_scope_items(self, ids: list) -> dict:
        """{session id as text: its readable scope items} for a page of the list, in two queries."""
        if not ids:
            return {}
        readable = self._readable_collections()
        found: dict = {}
        collections = (ChatSession.scope_collections.through.objects.filter(chatsession_id__in=ids)
                       .values_list("chatsession_id", "collection_id", "collection__name"))
        for session, pk, name in collections:
            if readable is None or pk in readable:
                found.setdefault(str(session), []).append({"kind": "collection", "id": pk, "name": name})
        documents = (ChatSession.scope_documents.through.objects.filter(chatsession_id__in=ids)
                     .values_list("chatsession_id", "document_id", "document__title", "document__collection_id"))
        for session, pk, title, collection in documents:
            if readable is None or collection in readable:
                found.setdefault(str(session), []).append({"kind": "document", "id": pk, "name": title})
        return found

    @classmethod
    def stored_fields(cls) -> list[str]:
        return [name for name in cls.Meta.fields if name not in ("message_count", "match", *SCOPE_FIELDS)]

    def create(self, validated_data):
        validated_data.setdefault("name", DEFAULT_SESSION_NAME)
        scope = validated_data.pop("scope", None)
        session = super().create(validated_data)
        if scope is not None:
            _set_scope(session, scope)
        return session

    def update(self, instance, validated_data):
        # Renaming, pinning, archiving or scoping is not activity: the chat keeps its place (updated_at) in the list.
        scope = validated_data.pop("scope", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if validated_data and not write_fields(instance, *validated_data):
            raise NotFound("No ChatSession matches the given query.")  # deleted by another request meanwhile
        if scope is not None:
            _set_scope(instance, scope)
        return instance


def _set_scope(session: ChatSession, scope: dict) -> None:
    """Replace the chat's scope. Ids the owner may not read any more stay out of sight but are replaced too."""
    session.scope_collections.set(scope["collections"])
    session.scope_documents.set(scope["documents"])


class SessionListQuerySerializer(serializers.Serializer):
    """GET /api/sessions query: ?search= (title and messages) and ?archived=true (the archive, else the rest)."""

    search = serializers.CharField(required=False, default="", allow_blank=True, trim_whitespace=True,
                                   max_length=SEARCH_MAX_CHARS)
    archived = serializers.BooleanField(required=False, default=False)


class FeedbackSerializer(ModelSerializer):
    rating = serializers.ChoiceField(choices=Feedback.Rating.choices)
    comment = StrictCharField(required=False, allow_blank=True, default="", trim_whitespace=True,
                              max_length=settings.FEEDBACK_COMMENT_MAX_CHARS)

    class Meta:
        model = Feedback
        fields = ["rating", "comment", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class MessageSerializer(ModelSerializer):
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


class ExportedSessionSerializer(ModelSerializer):
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
