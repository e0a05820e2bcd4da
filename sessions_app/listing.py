"""A user's chat list, a page at a time, in one hand-written query (the count rides along): the most frequent
request of the app.

Built through the ORM, a page (its annotations, the total and the rows' conversion) cost four times what
the database took to answer (bench/load.py, README "Production"). The SQL here says the same as the
ORM's `ChatSession.objects.filter(owner=..., archived=...)` with `message_count` and `has_scope`, in
`Meta.ordering`, and each value goes through the field's own database converters, so rows come out as
`values()` would give them. Searching the list stays with the ORM (sessions_app/views.py).

    chats = ChatList(user, archived=False, fields=["id", "name"], expected=slice(0, 50))
    chats.count()        # how many; with `expected`, the same query also reads that page
    chats[0:50]          # the first page: dicts of those fields + message_count and has_scope
"""

from functools import lru_cache

from django.db import connection

from ragchat.db import column, from_db, table
from sessions_app.models import ChatSession, Message


class ChatList:
    """What Django's Paginator needs (count() and slicing) for one user's chats, archived or not: rows of the
    chat's `fields` with `message_count` and `has_scope`."""

    def __init__(self, user, *, archived: bool, fields: list[str], expected: slice | None = None):
        """`expected`: the page the caller is about to ask for (from ?page=), which count() reads in the same
        query as the count: a round trip less for every list (the paginator asks for the count first)."""
        self.owner, self.archived, self.fields = user.pk, archived, tuple(fields)
        self._expected = expected
        self._read: tuple[int, int, list] | None = None  # (start, stop, rows) of a page that count() read

    def count(self) -> int:
        if self._expected is not None:
            start, stop = self._expected.start, self._expected.stop
            with connection.cursor() as cursor:
                cursor.execute(_sql(self.fields)["page_and_count"],
                               [self.owner, self.archived, self.owner, self.archived, stop - start, start])
                rows = cursor.fetchall()
            if rows:  # each row ends with the count; no rows: a page past the end, or no chats at all
                self._read = (start, stop, [row[:-1] for row in rows])
                return rows[0][-1]
        with connection.cursor() as cursor:
            cursor.execute(_sql(self.fields)["count"], [self.owner, self.archived])
            return cursor.fetchone()[0]

    def __getitem__(self, page: slice) -> list[dict]:
        start, stop = page.start or 0, page.stop
        if self._read is not None and self._read[0] == start and stop <= self._read[1]:
            rows = self._read[2][:stop - start]  # the last page's slice ends at the count, within what was read
        else:
            with connection.cursor() as cursor:
                cursor.execute(_sql(self.fields)["page"], [self.owner, self.archived, stop - start, start])
                rows = cursor.fetchall()
        names = [*self.fields, "message_count", "has_scope"]
        converters = _converters(self.fields)
        return [{name: convert(value) for name, convert, value in zip(names, converters, row, strict=True)}
                for row in rows]


@lru_cache(maxsize=4)
def _sql(fields: tuple[str, ...]) -> dict[str, str]:
    def chats(alias: str) -> str:
        return f"FROM {table(ChatSession)} {alias} WHERE {alias}.{column(ChatSession, 'owner')} = %s " \
               f"AND {alias}.{column(ChatSession, 'archived')} = %s"

    scopes = [ChatSession.scope_collections.through, ChatSession.scope_documents.through]
    chat_id = f"s.{column(ChatSession, 'id')}"
    has_scope = " OR ".join(f"EXISTS (SELECT 1 FROM {table(through)} x "
                            f"WHERE x.{column(through, 'chatsession')} = {chat_id})" for through in scopes)
    order = ", ".join(f"s.{column(ChatSession, name.lstrip('-'))}{' DESC' if name.startswith('-') else ''}"
                      for name in ChatSession._meta.ordering)
    count = f"SELECT COUNT(*) {chats('s')}"
    columns = f"{', '.join(f's.{column(ChatSession, name)}' for name in fields)}, " \
              f"(SELECT COUNT(*) FROM {table(Message)} m WHERE m.{column(Message, 'session')} = {chat_id}), " \
              f"CASE WHEN {has_scope} THEN 1 ELSE 0 END"
    page = f"{chats('s')} ORDER BY {order} LIMIT %s OFFSET %s"
    return {
        "count": count,
        "page": f"SELECT {columns} {page}",
        # The count as a subquery that does not depend on the row: the database works it out once.
        "page_and_count": f"SELECT {columns}, (SELECT COUNT(*) {chats('t')}) {page}",
    }


@lru_cache(maxsize=4)
def _converters(fields: tuple[str, ...]) -> list:
    """Per column, what values() would apply: the field's converters; then the two counts, a number and a flag."""
    return [*(from_db(ChatSession._meta.get_field(name).get_col("s")) for name in fields), int, bool]
