"""Uploads beside searches and chats, all at once, through a real multi-threaded server (the production one)
while a real worker process ingests what is uploaded: no "database is locked", no 500, on SQLite (the
embedded default) and on MariaDB."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from rest_framework.authtoken.models import Token

from knowledge.models import Document
from sessions_app.models import Message
from tests.factories import make_document, make_session, make_user
from tests.processes import start_worker, stop, wait_for
from tests.production_server import ProductionServer, database_url

EACH = 16  # uploads, searches and chats


def call(url, token, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Token {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_uploads_searches_and_chats_at_once_never_fail(transactional_db):
    user = make_user("busy")
    token = Token.objects.create(user=user).key
    make_document("Volcanoes erupt when magma rises. Glaciers carve valleys over centuries.", user=user)
    sessions = [str(make_session(user, f"s{n}").id) for n in range(EACH)]
    env = {**{f"THROTTLE_{s}": "10000/minute" for s in ("CHAT", "UPLOADS", "SEARCH")}, "LOG_LEVEL": "ERROR"}
    worker = start_worker(LOG_LEVEL="INFO")
    with ProductionServer(database_url(connection.settings_dict), env=env, workers=2, threads=32) as server:
        base = server.url + "/api"
        text = " ".join(f"Paragraph {{n}} about topic {w} with enough words to chunk." for w in range(400))
        jobs = ([("POST", f"{base}/documents", {"title": f"Doc {n}", "content": text.format(n=n)}) for n in range(EACH)]
                + [("GET", f"{base}/search?q=volcano+magma+{n}", None) for n in range(EACH)]
                + [("POST", f"{base}/sessions/{s}/chat", {"message": "What do glaciers do?"}) for s in sessions])
        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda job: call(job[1], token, job[0], job[2]), jobs))
        try:  # the worker reads, chunks and embeds them meanwhile, writing beside the web server
            wait_for(lambda: Document.objects.filter(status="ready").count() == EACH + 1, timeout=300,
                     what="every upload to be ingested")
        finally:
            log = server.output() + stop(worker)

    statuses = [status for status, _ in results]
    assert all(status < 500 for status in statuses), [r for r in results if r[0] >= 500][:3]
    # Uploads are queued (202), searches answer (200), chat turns are created (201).
    assert statuses.count(202) == EACH and statuses.count(200) == EACH and statuses.count(201) == EACH, statuses
    assert "database is locked" not in log
    assert not Document.objects.exclude(status="ready").exists()
    assert Message.objects.filter(role=Message.Role.ASSISTANT, status="complete").count() == EACH


def test_stops_chats_and_deletes_of_one_session_at_once_never_fail(transactional_db):
    # What schemathesis' two workers once did on MariaDB: stops racing each other, a turn and a delete of the
    # same chat. Each stop is 204 (or 404 once the chat is gone), never a 500.
    user = make_user("racer")
    token = Token.objects.create(user=user).key
    make_document("Volcanoes erupt when magma rises. Glaciers carve valleys over centuries.", user=user)
    sessions = [str(make_session(user, f"s{n}").id) for n in range(4)]
    env = {**{f"THROTTLE_{s}": "10000/minute" for s in ("CHAT", "UPLOADS", "SEARCH")}, "LOG_LEVEL": "ERROR"}
    with ProductionServer(database_url(connection.settings_dict), env=env, workers=2, threads=32) as server:
        base = server.url + "/api/sessions"
        jobs = []
        for s in sessions:
            jobs += [("POST", f"{base}/{s}/stop", None)] * 8
            jobs += [("POST", f"{base}/{s}/chat", {"message": "What do glaciers do?"})] * 2
        jobs += [("DELETE", f"{base}/{sessions[-1]}", None)]
        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda job: call(job[1], token, job[0], job[2]), jobs))
        log = server.output()
    assert all(status < 500 for status, _ in results), ([r for r in results if r[0] >= 500][:3], log[-3000:])
