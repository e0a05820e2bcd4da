"""Stopping an answer while it streams, whichever server process streams it.

    request_stop(session_id)                       # POST /api/sessions/{id}/stop, in any process
    watch = StopWatch(session_id, since=started)   # in the streaming loop: watch.requested() between tokens

A stop is a time stamp, kept twice. In Django's cache, which the streaming loop reads between tokens (at most
every CHECK_EVERY seconds, so a fast stream does not read it per token): with a cache that the server's
processes share, the stream ends at the model's next token wherever the stop request landed. And on the
chat session's row, which the loop reads once when the browser drops the stream after asking to stop: so
with a per-process cache too, an answer stopped from another process is saved as stopped, never failed.
A stop older than the turn is ignored: a late click on an earlier answer cannot stop the next one.

A stop that lands in the streaming process itself is seen at the next token (a registry in memory). The
shared cache is read every CHECK_EVERY seconds when it is Redis, but only every DATABASE_CHECK_EVERY seconds
when it is the database (the default), and the connection is given back after each look: 200 answers that
wait on a model must not hold 200 database connections or run 1,000 queries a second between them.
"""

import threading
import time
from datetime import UTC, datetime
from uuid import UUID

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache

from ragchat.db import release_connection
from sessions_app.models import ChatSession

CHECK_EVERY = 0.2  # seconds between two looks at a shared cache (Redis) while tokens arrive
DATABASE_CHECK_EVERY = 2.0  # ... at the database cache: each look is a query, and a connection to give back
KEEP_FOR = 600  # seconds a stop request is kept: far longer than the loop takes to notice it

_here: dict[UUID, float] = {}  # stops requested in this process: session id -> when
_here_lock = threading.Lock()


def _key(session_id: UUID) -> str:
    return f"ragchat:stop:{session_id}"


def request_stop(session_id: UUID) -> None:
    now = time.time()
    with _here_lock:
        for stale in [key for key, when in _here.items() if when < now - KEEP_FOR]:
            del _here[stale]
        _here[session_id] = now
    cache.set(_key(session_id), now, KEEP_FOR)
    ChatSession.objects.filter(pk=session_id).update(stop_requested_at=datetime.fromtimestamp(now, UTC))


def _in_database() -> bool:
    return isinstance(caches["default"], DatabaseCache)


class StopWatch:
    def __init__(self, session_id: UUID, *, since: float):
        self.session_id, self.key, self.since = session_id, _key(session_id), since
        self.checked = float("-inf")  # the first token always looks: a stop may come while the model thinks

    def requested(self, *, now: bool = False) -> bool:
        """Whether a stop was asked for since the turn began: in this process (every call), in the shared cache
        if it is time to look, or, with now=True (the client went away), in the cache and then the database."""
        here = _here.get(self.session_id)
        if here is not None and here >= self.since:
            return True
        moment = time.monotonic()
        in_database = _in_database()
        if not now and moment - self.checked < (DATABASE_CHECK_EVERY if in_database else CHECK_EVERY):
            return False
        self.checked = moment
        stopped_at = cache.get(self.key)
        if now and stopped_at is None:
            stamp = ChatSession.objects.filter(pk=self.session_id).values_list("stop_requested_at", flat=True).first()
            stopped_at = stamp.timestamp() if stamp else None
        if in_database and not now:
            release_connection()  # the stream goes back to waiting on the model
        return stopped_at is not None and stopped_at >= self.since
