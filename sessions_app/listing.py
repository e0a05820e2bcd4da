"""A user's chat list, a page at a time, in one hand-written query (the count rides along): the most frequent
request of the app.

Built through the ORM, a page (its annotations, the total and the rows' conversion) cost four times what
the database took to answer (bench/load.py, README "Production"). The SQL here says the same as the
ORM's `ChatSession.objects.filter(owner=..., archived=...)` in `Meta.ordering`; a chat's `message_count` and
`has_scope` are kept on its row. Searching the list stays with the ORM (sessions_app/views.py).

A page comes out as the API writes it (ChatSessionSerializer's representations): a stored value goes
straight to its JSON form. Through the ORM's conversions and then the serializer's, each of a page's 100
datetimes was parsed into an aware datetime and written back out as the text it came from, and each id into a
UUID and back: most of a page's own time. A value in a form the fast writers do not know (a datetime written by
hand in another format) is converted and written by the ORM's and the serializer's own code, as before.

    chats = ChatList(user, archived=False, fields=["id", "name"], expected=slice(0, 50))
    chats.count()        # how many; with `expected`, the same query also reads that page
    chats[0:50]          # the first page: dicts of those fields as the API writes them, + message_count, has_scope
"""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection, models
from django.utils.dateparse import parse_datetime

from ragchat.db import column, from_db, table
from sessions_app.models import ChatSession
from sessions_app.serializers import UTCDateTimeField

_SERIALIZED_DATETIME = UTCDateTimeField()  # how the chat's datetimes are written (UTC, as DRF writes them)


class ChatList:
    """What Django's Paginator needs (count() and slicing) for one user's chats, archived or not: rows of the
    chat's `fields` as the API writes them, with `message_count` and `has_scope`."""

    def __init__(self, user, *, archived: bool, fields: list[str], expected: slice | None = None):
        """`expected`: the page the caller is about to ask for (from ?page=), which count() reads in the same
        query as the count: a round trip less for every list (the paginator asks for the count first)."""
        self.owner, self.archived = user.pk, archived
        self.columns = (*fields, "message_count", "has_scope")  # the last two are kept on the chat's row
        self._expected = expected
        self._read: tuple[int, int, list] | None = None  # (start, stop, rows) of a page that count() read

    def count(self) -> int:
        if self._expected is not None:
            start, stop = self._expected.start, self._expected.stop
            with connection.cursor() as cursor:
                cursor.execute(_sql(self.columns)["page_and_count"],
                               [self.owner, self.archived, self.owner, self.archived, stop - start, start])
                rows = cursor.fetchall()
            if rows:  # each row ends with the count; no rows: a page past the end, or no chats at all
                self._read = (start, stop, [row[:-1] for row in rows])
                return rows[0][-1]
        with connection.cursor() as cursor:
            cursor.execute(_sql(self.columns)["count"], [self.owner, self.archived])
            return cursor.fetchone()[0]

    def __getitem__(self, page: slice) -> list[dict]:
        start, stop = page.start or 0, page.stop
        if self._read is not None and self._read[0] == start and stop <= self._read[1]:
            rows = self._read[2][:stop - start]  # the last page's slice ends at the count, within what was read
        else:
            with connection.cursor() as cursor:
                cursor.execute(_sql(self.columns)["page"], [self.owner, self.archived, stop - start, start])
                rows = cursor.fetchall()
        writers = _writers(self.columns)
        return [{name: write(value) for name, write, value in zip(self.columns, writers, row, strict=True)}
                for row in rows]


@lru_cache(maxsize=4)
def _sql(columns: tuple[str, ...]) -> dict[str, str]:
    def chats(alias: str) -> str:
        return f"FROM {table(ChatSession)} {alias} WHERE {alias}.{column(ChatSession, 'owner')} = %s " \
               f"AND {alias}.{column(ChatSession, 'archived')} = %s"

    order = ", ".join(f"s.{column(ChatSession, name.lstrip('-'))}{' DESC' if name.startswith('-') else ''}"
                      for name in ChatSession._meta.ordering)
    count = f"SELECT COUNT(*) {chats('s')}"
    selected = ", ".join(_selected(name) for name in columns)
    page = f"{chats('s')} ORDER BY {order} LIMIT %s OFFSET %s"
    return {
        "count": count,
        "page": f"SELECT {selected} {page}",
        # The count as a subquery that does not depend on the row: the database works it out once.
        "page_and_count": f"SELECT {selected}, (SELECT COUNT(*) {chats('t')}) {page}",
    }


def _selected(name: str) -> str:
    """A column as the page reads it: datetimes as their text, which the drivers would otherwise parse into a
    datetime in Python (sqlite3 by the column's declared type, Django registers the parser), only for it to be
    written out again."""
    selected = f"s.{column(ChatSession, name)}"
    if isinstance(ChatSession._meta.get_field(name), models.DateTimeField):
        return f"CAST({selected} AS {'CHAR' if connection.vendor == 'mysql' else 'TEXT'})"
    return selected


@lru_cache(maxsize=4)
def _writers(columns: tuple[str, ...]) -> list[Callable]:
    """Per column, its stored value -> what ChatSessionSerializer writes for it."""
    writers = []
    for name in columns:
        field = ChatSession._meta.get_field(name)
        if isinstance(field, models.UUIDField):
            writers.append(_uuid_writer(from_db(field.get_col("s"))))
        elif isinstance(field, models.DateTimeField):
            writers.append(_write_datetime)
        elif isinstance(field, models.BooleanField):
            writers.append(bool)  # SQLite's and MySQL's booleans are 0 and 1
        elif isinstance(field, models.IntegerField) and not field.null:
            writers.append(int)
        elif isinstance(field, models.CharField) and not field.null:
            writers.append(str)
        else:
            raise TypeError(f"The chat list has no writer for {field!r}: add one, or leave it to the serializer.")
    return writers


def _uuid_writer(convert: Callable) -> Callable:
    def write(value):
        """An id as DRF writes it, "8-4-4-4-12" lowercase hex: the 32 digits that SQLite (and MySQL) store,
        cut up, or MariaDB's UUID type as its client reads it, already in that form."""
        if isinstance(value, str):
            if len(value) == 32:
                return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
            if len(value) == 36 and value.islower():
                return value
        return str(convert(value))  # any other form: as a UUID

    return write


def _write_datetime(value) -> str | None:
    """A stored UTC datetime as DRF writes it ("2026-11-25T16:08:44.790801Z", no fraction for a whole second).
    SQLite holds Django's text, "2026-11-25 16:08:44.790801" or "2026-11-25 16:08:44"; MySQL's CAST always
    writes six digits of fraction."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) in (19, 26) and value[10] == " " and value[19:20] in ("", "."):
        if value.endswith(".000000"):
            value = value[:19]
        return f"{value[:10]}T{value[11:]}Z"
    parsed = value if isinstance(value, datetime) else parse_datetime(value)  # any other form: read, then
    if parsed is None:                                                             # written by the serializer's field
        raise ValueError(f"Not a datetime: {value!r}")
    return _SERIALIZED_DATETIME.to_representation(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
