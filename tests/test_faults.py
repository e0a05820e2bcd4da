"""Faults an operator meets on MariaDB, through the production server: a killed connection, a database that is
unreachable for a while. Every answer stays JSON, and the server recovers by itself. (The provider dying
mid-stream is in test_production_streams.py.)"""

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories import make_session, make_user
from tests.production_server import ProductionServer, database_url

pytestmark = pytest.mark.skipif(connection.vendor != "mysql", reason="fault tests need MariaDB/MySQL")


def get(url, token="", method="GET", body=None):
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


class DatabaseProxy:
    """A TCP proxy between the server and MariaDB that the test can cut (open connections dropped, new ones
    closed at once) and restore."""

    def __init__(self, target=("127.0.0.1", 3306)):
        self.target, self.up, self.sockets = target, True, []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.up = False
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets = []

    def restore(self):
        self.up = True

    def close(self):
        self.cut()
        self.listener.close()


@pytest.fixture
def signed_in(transactional_db):
    user = make_user("operator")
    session = make_session(user, "Before the outage")
    return Token.objects.create(user=user).key, session


def test_a_killed_connection_does_not_fail_the_next_request(signed_in):
    token, _ = signed_in
    with ProductionServer(database_url(connection.settings_dict), workers=1, threads=4,
                          env={"CONN_MAX_AGE": "60"}) as server:
        assert get(server.url + "/api/sessions", token)[0] == 200
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM information_schema.processlist WHERE db = DATABASE() "
                           "AND id <> CONNECTION_ID()")
            victims = [row[0] for row in cursor.fetchall()]
            assert victims, "the server should hold a persistent connection"
            for victim in victims:
                cursor.execute(f"KILL {int(victim)}")
        for _ in range(8):  # every thread's connection, whichever thread answers
            status, content_type, body = get(server.url + "/api/sessions", token)
            assert status == 200, body


def test_an_unreachable_database_gives_json_503_and_the_server_recovers_by_itself(signed_in):
    token, session = signed_in
    proxy = DatabaseProxy()
    url = database_url({**connection.settings_dict, "HOST": "127.0.0.1", "PORT": proxy.port})
    try:
        with ProductionServer(url, workers=1, threads=8, env={"CONN_MAX_AGE": "60"}) as server:
            calls = [("GET", "/healthz", None), ("GET", "/api/sessions", None), ("GET", "/api/search?q=x", None),
                     ("GET", f"/api/sessions/{session.id}/messages", None), ("GET", "/api/documents", None),
                     ("POST", "/api/sessions", {"name": "During"}),
                     ("POST", f"/api/sessions/{session.id}/chat", {"message": "Anyone there?"})]
            assert all(get(server.url + path, token, m, b)[0] < 300 for m, path, b in calls)

            proxy.cut()
            for method, path, body in calls:
                status, content_type, raw = get(server.url + path, token, method, body)
                assert status == 503 and content_type.startswith("application/json"), (path, status, raw[:200])
                detail = json.loads(raw)
                assert detail.get("detail") or detail.get("status") == "error", (path, detail)

            proxy.restore()
            for method, path, body in calls:
                status, _, raw = get(server.url + path, token, method, body)
                assert status < 300, (path, status, raw[:200])
    finally:
        proxy.close()
