"""Feedback as CSV for a spreadsheet: each rating with the question, the answer and where it came from."""

import csv
from collections.abc import Iterator

from django.db.models import OuterRef, QuerySet, Subquery

from sessions_app.models import Message

COLUMNS = ["id", "created_at", "updated_at", "user", "rating", "comment", "question", "answer", "model",
           "session_id", "session_name", "message_id"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def with_question(feedback: QuerySet) -> QuerySet:
    """Each rating's question: the last question before the rated answer in its chat (one query for all)."""
    question = (Message.objects.filter(session=OuterRef("message__session"), role=Message.Role.USER,
                                       created_at__lte=OuterRef("message__created_at"))
                .order_by("-created_at", "-id").values("content")[:1])
    return feedback.select_related("user", "message", "message__session").annotate(question=Subquery(question))


def csv_lines(feedback: QuerySet) -> Iterator[str]:
    """The CSV, a line at a time (for a streaming response)."""
    out = _Line()
    writer = csv.writer(out)
    yield writer.writerow(COLUMNS)
    for item in with_question(feedback).iterator(chunk_size=500):
        message = item.message
        yield writer.writerow([_cell(value) for value in (
            item.pk, item.created_at.isoformat(), item.updated_at.isoformat(), item.user.get_username(),
            item.rating, item.comment, item.question or "", message.content, message.model,
            message.session_id, message.session.name, message.pk)])


def _cell(value):
    """Text a spreadsheet would run as a formula (=HYPERLINK(...) in a comment) is quoted to stay text."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


class _Line:
    def write(self, value: str) -> str:
        return value
