import sys

from rest_framework import serializers

from sessions_app.models import DEFAULT_SESSION_NAME, ChatSession, Message

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


class ChatSessionSerializer(serializers.ModelSerializer):
    name = StrictCharField(max_length=200, required=False, trim_whitespace=True, refused=CONTROL + BIDI_CONTROLS,
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
