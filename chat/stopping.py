"""Stopping an answer while it streams, whichever server process streams it.

    request_stop(session_id)                       # POST /api/sessions/{id}/stop, in any process
    watch = StopWatch(session_id, since=started)   # in the streaming loop: watch.requested() between tokens

A stop is a time stamp in Django's cache under the session's key, so it reaches every process that shares
that cache (the per-process memory cache of a single-process server reaches only itself: see the README).
The streaming loop reads it at most every CHECK_EVERY seconds, so a fast stream does not read the cache per
token, and it ignores a stop older than its turn: a late click on an earlier answer cannot stop the next one.
The browser also drops the stream after asking, so a stop never waits on a stalled model.
"""

import time
from uuid import UUID

from django.core.cache import cache

CHECK_EVERY = 0.2  # seconds between two looks at the cache while tokens arrive
KEEP_FOR = 600  # seconds a stop request is kept: far longer than the loop takes to notice it


def _key(session_id: UUID) -> str:
    return f"ragchat:stop:{session_id}"


def request_stop(session_id: UUID) -> None:
    cache.set(_key(session_id), time.time(), KEEP_FOR)


class StopWatch:
    def __init__(self, session_id: UUID, *, since: float):
        self.key, self.since = _key(session_id), since
        self.checked = float("-inf")  # the first token always looks: a stop may come while the model thinks

    def requested(self, *, now: bool = False) -> bool:
        """Whether a stop was asked for since the turn began (read from the cache now, or if it is time to)."""
        moment = time.monotonic()
        if not now and moment - self.checked < CHECK_EVERY:
            return False
        self.checked = moment
        stopped_at = cache.get(self.key)
        return stopped_at is not None and stopped_at >= self.since
