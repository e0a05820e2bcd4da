"""The gate in front of the app (ragchat/gate.py): a few requests run at once, the rest in arrival order; a request
waiting on the network or on a slow client holds no place."""

import contextlib
import io
import threading
import time

import pytest

from ragchat.gate import Gate, locked, waiting


class Recorder:
    """A WSGI app whose requests run until released, noting the order they started in and how many ran at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.running = self.most = 0
        self.release: dict[str, threading.Event] = {}
        self.bodies: dict[str, bytes] = {}

    def __call__(self, environ, start_response):
        name = environ["PATH_INFO"]
        with self.lock:
            self.started.append(name)
            self.running += 1
            self.most = max(self.most, self.running)
        self.bodies[name] = environ["wsgi.input"].read()
        if environ.get("WAIT_OUTSIDE"):
            with waiting():
                environ["WAIT_OUTSIDE"].wait(5)
        self.release.setdefault(name, threading.Event()).wait(5)
        with self.lock:
            self.running -= 1
        return [b"ok"]


def call(gate: Gate, name: str, body: bytes | io.RawIOBase = b"", **extra) -> threading.Thread:
    stream = io.BytesIO(body) if isinstance(body, bytes) else body
    length = len(body) if isinstance(body, bytes) else extra.pop("length")
    environ = {"PATH_INFO": name, "wsgi.input": stream, "CONTENT_LENGTH": str(length), **extra}
    thread = threading.Thread(target=gate, args=(environ, lambda *a: None))
    thread.start()
    return thread


def until(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_at_most_places_requests_run_and_the_others_start_in_arrival_order():
    app = Recorder()
    gate = Gate(app, places=2, body_limit=1000)
    threads = []
    for n in range(6):
        app.release[f"/{n}"] = threading.Event()
        threads.append(call(gate, f"/{n}"))
        if n < 2:
            until(lambda n=n: len(app.started) == n + 1)
        else:
            time.sleep(0.02)  # queued behind the first two, in this order
    assert app.started == ["/0", "/1"]
    for n in range(6):
        app.release[f"/{n}"].set()
        until(lambda n=n: len(app.started) >= min(6, n + 3))
    for thread in threads:
        thread.join(5)
    assert app.started == [f"/{n}" for n in range(6)]
    assert app.most == 2


def test_a_request_waiting_on_the_network_gives_its_place_back_and_returns_before_newcomers():
    app = Recorder()
    gate = Gate(app, places=1, body_limit=1000)
    network = threading.Event()
    for name in ("/waits", "/meanwhile", "/later"):
        app.release[name] = threading.Event()
    first = call(gate, "/waits", WAIT_OUTSIDE=network)
    until(lambda: app.started == ["/waits"])
    second = call(gate, "/meanwhile")  # runs while /waits is outside, waiting on the network
    until(lambda: app.started == ["/waits", "/meanwhile"])
    third = call(gate, "/later")  # queued behind /meanwhile
    time.sleep(0.05)
    network.set()  # /waits queues again, ahead of /later
    time.sleep(0.05)
    app.release["/meanwhile"].set()
    second.join(5)
    time.sleep(0.05)
    assert app.started == ["/waits", "/meanwhile"] and app.running == 1  # /waits has the place, not /later
    app.release["/waits"].set()
    first.join(5)
    until(lambda: app.started == ["/waits", "/meanwhile", "/later"])
    app.release["/later"].set()
    third.join(5)


class SlowBody(io.RawIOBase):
    """A request body whose client sends half, then the rest when told."""

    def __init__(self, data: bytes):
        self.data, self.sent, self.rest = data, 0, threading.Event()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.sent >= len(self.data) // 2 and not self.rest.is_set():
            self.rest.wait(5)
        n = len(self.data) - self.sent if n < 0 else n
        if self.sent < len(self.data) // 2:
            n = min(n, len(self.data) // 2 - self.sent)
        block = self.data[self.sent:self.sent + n]
        self.sent += len(block)
        return block


def test_a_slow_upload_is_read_before_it_takes_a_place():
    app = Recorder()
    gate = Gate(app, places=1, body_limit=1000)
    body = SlowBody(b"x" * 600)
    upload = call(gate, "/upload", body, length=600)
    time.sleep(0.05)
    app.release["/quick"] = threading.Event()
    quick = call(gate, "/quick")
    until(lambda: app.started == ["/quick"])  # not stuck behind the half-sent upload
    app.release["/quick"].set()
    body.rest.set()
    app.release["/upload"] = threading.Event()
    until(lambda: app.started == ["/quick", "/upload"])
    app.release["/upload"].set()
    for thread in (upload, quick):
        thread.join(5)
    assert app.bodies["/upload"] == b"x" * 600


def test_a_body_over_the_limit_is_left_to_the_app_to_refuse_unread():
    app = Recorder()
    gate = Gate(app, places=1, body_limit=100)
    stream = io.BytesIO(b"y" * 500)
    app.release["/big"] = threading.Event()
    app.release["/big"].set()
    gate({"PATH_INFO": "/big", "wsgi.input": stream, "CONTENT_LENGTH": "500"}, lambda *a: None)
    assert app.bodies["/big"] == b"y" * 500  # the app got the client's own stream, untouched


def test_waiting_outside_a_gated_request_does_nothing():
    with waiting():
        pass


class Querying:
    """A WSGI app: /slow runs a one-second query (in a transaction for /slow-atomic); others note that they ran."""

    def __init__(self):
        self.done: list[str] = []

    def __call__(self, environ, start_response):
        from django.db import connection, transaction

        name = environ["PATH_INFO"]
        try:
            if name.startswith("/slow"):
                with transaction.atomic() if name == "/slow-atomic" else contextlib.nullcontext():
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT SLEEP(1)")
            self.done.append(name)
            return [b"ok"]
        finally:
            connection.close()


@pytest.mark.parametrize("slow", ["/slow", "/slow-atomic"])
def test_a_query_keeps_its_place_in_or_out_of_a_transaction(transactional_db, slow):
    """Handing the place over around each round trip cost more than it gained (ragchat/gate.py); and a request
    holding row locks must never queue between its statements."""
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("SELECT SLEEP() is MySQL's")
    app = Querying()
    gate = Gate(app, places=1, body_limit=1000)
    first = call(gate, slow)
    time.sleep(0.3)  # the query is running
    second = call(gate, "/fast")
    second.join(5), first.join(5)
    assert app.done == [slow, "/fast"]


def test_waiting_for_a_lock_taken_with_locked_holds_no_place():
    held, lock = threading.Event(), threading.Lock()
    lock.acquire()  # held by a thread outside the gate, as the index's background rebuild does

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/locked":
            held.set()
            with locked(lock):
                pass
        return [environ["PATH_INFO"].encode()]

    gate = Gate(app, places=1, body_limit=1000)
    blocked = call(gate, "/locked")
    held.wait(5)
    other = call(gate, "/other")
    other.join(2)
    assert not other.is_alive()  # ran while /locked waited for the lock
    lock.release()
    blocked.join(2)
    assert not blocked.is_alive()
