"""The production server shares connections out among its workers, and its gate (ragchat/gate.py) is not held by
requests that wait: a half-sent upload and an answer from a slow model service leave the one place free."""

import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories import make_user
from tests.openai_server import FakeOpenAI
from tests.production_server import ProductionServer, database_url


def established_to(port: int, pid: int) -> int:
    """Connections to `port` that process `pid` holds (its socket inodes matched in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
        count += local_port == port and state == "01" and inode in inodes
    return count


def healthz_seconds(server: ProductionServer) -> float:
    started = time.monotonic()
    connection_ = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection_.request("GET", "/healthz")
    assert connection_.getresponse().status == 200
    connection_.close()
    return time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_keep_alive_connections_are_shared_evenly_among_the_workers():
    with ProductionServer(database_url(connection.settings_dict), workers=2, threads=16) as server:
        clients = []
        for _ in range(10):  # a burst of keep-alive connections, each kept open after one request
            client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            client.request("GET", "/healthz")
            client.getresponse().read()
            clients.append(client)
        held = sorted(established_to(server.port, pid) for pid in server.worker_pids())
        for client in clients:
            client.close()
    assert held == [5, 5], held


@pytest.fixture
def one_place_server(transactional_db):
    provider = FakeOpenAI().start()
    env = {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": provider.url, "OPENAI_API_KEY": "test-key",
           "OPENAI_TIMEOUT": "20", "OPENAI_MAX_RETRIES": "0", "EMBEDDING_BACKEND": "hashed", "WEB_RUNNING": "1"}
    with ProductionServer(database_url(connection.settings_dict), env=env, workers=1, threads=8) as server:
        yield server, provider
    provider.stop()


def test_requests_that_wait_hold_no_place_at_the_gate(one_place_server):
    server, provider = one_place_server
    token = Token.objects.create(user=make_user("waiter")).key
    # A client that sends half of its upload and then nothing.
    upload = socket.create_connection(("127.0.0.1", server.port))
    body = json.dumps({"title": "Half", "content": "x" * 2000}).encode()
    upload.sendall(b"POST /api/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   b"Authorization: Token " + token.encode() + b"\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body[:1000])
    # An answer the model service takes 3 s to give.
    provider.slow(3.0)
    answered = {}

    def ask():
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        client.request("POST", "/v1/chat/completions", json.dumps(
            {"model": "ragchat", "messages": [{"role": "user", "content": "Anything?"}]}),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        answered["status"] = client.getresponse().status

    slow = threading.Thread(target=ask)
    slow.start()
    time.sleep(1.0)  # both are now waiting: one on its client, one on the model service
    assert healthz_seconds(server) < 1.0
    slow.join(20)
    assert answered["status"] == 200
    upload.sendall(body[1000:])  # the upload completes and is answered
    assert upload.recv(100).startswith(b"HTTP/1.1 202")
    upload.close()
