"""The database as the web process sees it: whether a failure means "unavailable", and giving a connection
back while a request waits on something slow.
"""

from django.db import InterfaceError, OperationalError, connection

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

