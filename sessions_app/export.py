"""A chat as a Markdown file to read (the JSON export is sessions_app.serializers.ChatExportSerializer)."""

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone
from django.utils.text import slugify

from sessions_app.models import ChatSession, Message

SPEAKERS = {Message.Role.USER: "You", Message.Role.ASSISTANT: "Assistant", Message.Role.SYSTEM: "System"}
SNIPPET_CHARS = 200


def chat_markdown(session: ChatSession, messages: Sequence[Message], *, exported_at: datetime) -> str:
    lines = [f"# {session.name}", "",
             f"Exported from ragchat on {_when(exported_at)} · {len(messages)} messages", ""]
    for message in messages:
        heading = " · ".join(filter(None, [SPEAKERS.get(message.role, message.role), message.model,
                                           _when(message.created_at)]))
        lines += ["---", "", f"**{heading}**", "", message.content or "*(no text)*", ""]
        if message.status == Message.Status.STOPPED:
            lines += ["*Stopped before it was complete.*", ""]
        elif message.status == Message.Status.FAILED:
            lines += [f"*Failed: {message.error or 'no reason recorded'}*", ""]
        if message.sources:
            lines += ["Sources:", ""]
            lines += [_source_line(source) for source in message.sources] + [""]
    return "\n".join(lines)


def export_filename(session: ChatSession, extension: str) -> str:
    """A file name from the chat's name: its words, lower case, joined by dashes (any script)."""
    return f"{slugify(session.name, allow_unicode=True)[:80] or 'chat'}.{extension}"


def _source_line(source: dict) -> str:
    page = f", p. {source['page']}" if source.get("page") else ""
    snippet = " ".join(str(source.get("snippet", "")).split())
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[:SNIPPET_CHARS].rsplit(" ", 1)[0] + "…"
    return f"{source.get('n', '?')}. {source.get('document_title') or 'Untitled document'}{page}: “{snippet}”"


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
