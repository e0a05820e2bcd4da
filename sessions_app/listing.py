"""A user's chat list, a page at a time, in two hand-written queries: the most frequent request of the app.

Built through the ORM, a page (its annotations, the total and the rows' conversion) cost four times what
the database took to answer (bench/load.py, README "Production"). The SQL here says the same as the
ORM's `ChatSession.objects.filter(owner=..., archived=...)` with `message_count` and `has_scope`, in
`Meta.ordering`, and each value goes through the field's own database converters, so rows come out as
`values()` would give them. Searching the list stays with the ORM (sessions_app/views.py).

    chats = ChatList(user, archived=False)
    chats.count()        # how many
    chats[0:50]          # the first page: dicts of ChatSessionSerializer.stored_fields() + the two counts
"""

from functools import lru_cache

from django.db import connection

from sessions_app.models import ChatSession, Message

FIELDS = ["id", "name", "pinned", "archived", "created_at", "updated_at"]  # ChatSessionSerializer.stored_fields()


class ChatList:
    """What Django's Paginator needs (count() and slicing) for one user's chats, archived or not."""

    def __init__(self, user, *, archived: bool):
        self.owner, self.archived = user.pk, archived

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(_sql()["count"], [self.owner, self.archived])
            return cursor.fetchone()[0]

    def __getitem__(self, page: slice) -> list[dict]:
        start, stop = page.start or 0, page.stop
        with connection.cursor() as cursor:
            cursor.execute(_sql()["page"], [self.owner, self.archived, stop - start, start])
            rows = cursor.fetchall()
        converters = _converters()
        names = [*FIELDS, "message_count", "has_scope"]
        return [{name: convert(value) for name, convert, value in zip(names, converters, row, strict=True)}
                for row in rows]


@lru_cache(maxsize=1)
def _sql() -> dict[str, str]:
    quote = connection.ops.quote_name

    def column(model, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    def table(model) -> str:
        return quote(model._meta.db_table)

    chats = f"FROM {table(ChatSession)} s WHERE s.{column(ChatSession, 'owner')} = %s " \
            f"AND s.{column(ChatSession, 'archived')} = %s"
    scopes = [ChatSession.scope_collections.through, ChatSession.scope_documents.through]
    chat_id = f"s.{column(ChatSession, 'id')}"
    has_scope = " OR ".join(f"EXISTS (SELECT 1 FROM {table(through)} x "
                            f"WHERE x.{column(through, 'chatsession')} = {chat_id})" for through in scopes)
    order = ", ".join(f"s.{column(ChatSession, name.lstrip('-'))}{' DESC' if name.startswith('-') else ''}"
                      for name in ChatSession._meta.ordering)
    return {
        "count": f"SELECT COUNT(*) {chats}",
        "page": f"SELECT {', '.join(f's.{column(ChatSession, name)}' for name in FIELDS)}, "
                f"(SELECT COUNT(*) FROM {table(Message)} m WHERE m.{column(Message, 'session')} = {chat_id}), "
                f"CASE WHEN {has_scope} THEN 1 ELSE 0 END "
                f"{chats} ORDER BY {order} LIMIT %s OFFSET %s",
    }


@lru_cache(maxsize=1)
def _converters() -> list:
    """Per column, a function from the database's value to the field's Python value (what values() applies)."""
    def of(field):
        expression = field.get_col("s")
        steps = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)

        def convert(value):
            for step in steps:
                value = step(value, expression, connection)
            return value
        return convert

    def number(value):
        return int(value)

    def flag(value):
        return bool(value)

    return [*(of(ChatSession._meta.get_field(name)) for name in FIELDS), number, flag]
