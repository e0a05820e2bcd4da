"""At most N requests of a worker process run Python at once; the others wait their turn, first come first served.

A gthread worker gives every connection a thread, and dozens of threads that all want the GIL spend much of
it handing it over, at random: the unluckiest requests wait longest, and the p99 grows to ten times the
median (bench/load.py). Behind a gate a few requests run at a time and the rest queue in arrival order.

Only work that needs the CPU holds a place:
- the request body is read before the request queues, so a slow upload waits on its own thread;
- `waiting()` gives the place back while a request waits on something else (the model service, the local
  model's batch, a poll): it then comes back ahead of the requests that have not started yet;
- so does waiting for a lock taken with `locked()`;
- a streamed answer's body is produced after the app returns, outside the gate.

A query keeps its place: handing the place over and back around each round trip cost more than the other
place's work gained while a database on the same machine answered (alternating load runs on MariaDB, README
"Production"). With a database across a network, raise the places (WEB_RUNNING) instead.

A request that holds a lock across a wait needs a place back before it can let go of the lock. So a request
must never block on such a lock while it holds a place (the places could all be waiting for the holder):
take locks that are held across queries with `locked()` (the search index's lock is one), which gives the
place back while it waits. Queries keep their place, so a request that holds row locks in the database
never queues between its statements; one that waits for a row lock waits inside a query.

    application = Gate(get_wsgi_application(), places=2, body_limit=50 * 2**20)   # ragchat/wsgi.py
"""

import collections
import tempfile
import threading
from contextlib import contextmanager

BODY_IN_MEMORY = 2**20  # a body up to this size is buffered in memory, a bigger one in a temporary file
READ_BLOCK = 2**16

_current = threading.local()  # the gate this thread holds a place at, if any


class Gate:
    def __init__(self, app, *, places: int, body_limit: int):
        """`body_limit`: bodies up to this many bytes are read before queueing; the app refuses bigger ones
        from their Content-Length without reading them (413)."""
        self.app, self.places, self.body_limit = app, places, body_limit
        self._lock = threading.Lock()
        self._running = 0
        self._waiting: collections.deque[threading.Lock] = collections.deque()

    def __call__(self, environ, start_response):
        _read_body(environ, self.body_limit)
        self._enter()
        _current.gate = self
        try:
            return self.app(environ, start_response)
        finally:
            if getattr(_current, "gate", None) is self:
                _current.gate = None
                self._leave()

    def _enter(self, *, first: bool = False) -> None:
        with self._lock:
            if self._running < self.places and not self._waiting:
                self._running += 1
                return
            turn = threading.Lock()
            turn.acquire()
            if first:
                self._waiting.appendleft(turn)
            else:
                self._waiting.append(turn)
        turn.acquire()  # released by _leave, which hands its place over: _running stays the same

    def _leave(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._running -= 1


@contextmanager
def waiting():
    """Give this request's place at the gate back while it waits on something that is not this process's
    CPU; it takes a place again, ahead of requests not yet started, when the block ends. Outside a gated
    request (the dev server, a management command, a streamed body) it does nothing."""
    gate = getattr(_current, "gate", None)
    if gate is None:
        yield
        return
    _current.gate = None
    gate._leave()
    try:
        yield
    finally:
        gate._enter(first=True)
        _current.gate = gate


@contextmanager
def locked(lock: threading.Lock):
    """Hold `lock`, giving the place back while waiting for it: its holder may need a place to let go of it."""
    if not lock.acquire(blocking=False):
        with waiting():
            lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _read_body(environ, limit: int) -> None:
    """Replace wsgi.input with the whole body, read now, when its declared length is within `limit`."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if length <= 0 or length > limit:
        return
    body = tempfile.SpooledTemporaryFile(max_size=BODY_IN_MEMORY)
    stream, left = environ["wsgi.input"], length
    while left > 0:
        block = stream.read(min(READ_BLOCK, left))
        if not block:
            break  # the client stopped short: the app sees what came, as it would have
        body.write(block)
        left -= len(block)
    body.seek(0)
    environ["wsgi.input"] = body
