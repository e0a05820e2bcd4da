"""The database as the web process sees it: whether a failure means "unavailable", giving a connection back
while a request waits on something slow, and the names and conversions hand-written SQL needs.
"""

from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")


def table(model) -> str:
    """A model's table, quoted for hand-written SQL on the default database."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model, name: str) -> str:
    """A field's column, quoted for hand-written SQL on the default database."""
    return connection.ops.quote_name(model._meta.get_field(name).column)


def from_db(expression, using=connection) -> Callable[[object], object]:
    """What the ORM does to a value it reads for `expression` (a field's column, or any expression with an
    output_field): the backend's converters, then the field's. So rows read with hand-written SQL come out as
    the ORM would give them (SQLite's datetimes as text, MySQL's booleans as 0/1, UUIDs as hex)."""
    steps = using.ops.get_db_converters(expression) + expression.get_db_converters(using)

    def convert(value):
        for step in steps:
            value = step(value, expression, using)
        return value

    return convert

# MySQL/MariaDB client and server codes that mean the server is away, not that the query was wrong:
# can't connect (2002, 2003), gone away / lost (2006, 2013, 2055), too many connections (1040),
# shutting down (1053), connection killed (1927).
UNAVAILABLE_MYSQL_CODES = {1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055}


def is_unavailable(exc: BaseException) -> bool:
    """True for a database that cannot be reached (or is locked past its timeout): a 503, not a bug."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    if code is not None:
        return code in UNAVAILABLE_MYSQL_CODES
    message = str(exc).lower()
    return "database is locked" in message or "unable to open database" in message


def release_connection() -> None:
    """Close this thread's connection before a long wait on an outside service (a streamed answer takes a
    minute): 200 such requests must not hold 200 database connections. Django opens a new one at the next
    query. Inside a transaction (tests wrap each one in a transaction) the connection is kept."""
    if not connection.in_atomic_block:
        connection.close()



def write_fields(instance, *names: str) -> bool:
    """Write these fields of `instance` to its row, in one UPDATE; False when the row is gone (another request
    deleted it meanwhile), where save(update_fields=...) would raise a DatabaseError, a 500."""
    values = {name: getattr(instance, name) for name in names}
    return bool(type(instance)._default_manager.filter(pk=instance.pk).update(**values))


DEADLOCK_MYSQL_CODE = 1213  # "Deadlock found when trying to get lock; try restarting transaction"


def retrying_deadlocks(work: Callable[[], T], *, attempts: int = 3) -> T:
    """Run `work`, one whole transaction, again when MariaDB chose it as the victim of a deadlock: the server
    has rolled it back and asks for exactly that. Inside an outer transaction it runs once (a retry there
    would repeat only part of what was rolled back)."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code != DEADLOCK_MYSQL_CODE or attempt == attempts or connection.in_atomic_block:
                raise
    raise AssertionError("unreachable")
