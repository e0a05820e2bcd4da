"""The production server holds many streamed answers at once, from a slow model service, and stays responsive.

bench/streams.py measures the full figure (200 answers of 60 s); this is the same path at a size a test
suite can afford: 20 answers through the real gunicorn, the real `openai` SDK and a paced provider.
"""

import asyncio

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from sessions_app.models import Message
from tests.factories import make_session, make_user
from tests.production_server import ProductionServer, database_url
from tests.slow_streams import SlowOpenAI, chat_stream, request

STREAMS = 20
TOKENS, INTERVAL = 15, 0.2  # 3 s per answer: longer than the worker timeout the server is given below


@pytest.fixture
def provider():
    server = SlowOpenAI(tokens=TOKENS, interval=INTERVAL).start()
    yield server
    server.stop()


@pytest.fixture
def streaming_server(transactional_db, provider):
    env = {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": provider.url, "OPENAI_API_KEY": "test-key",
           "OPENAI_TIMEOUT": "10", "OPENAI_MAX_RETRIES": "0", "EMBEDDING_BACKEND": "local",
           "THROTTLE_CHAT": "1000/minute",
           # gunicorn's worker timeout far below an answer's length: it must not cut answers (gthread).
           "GUNICORN_CMD_ARGS": "--timeout 2",
           # No persistent connections: a thread that answered one of the /healthz probes keeps none idle, so
           # the connections counted below are the ones the open answers hold.
           "CONN_MAX_AGE": "0"}
    with ProductionServer(database_url(connection.settings_dict), env=env, workers=2, threads=32) as server:
        yield server


def database_connections() -> int:
    """Connections open to this test database other than our own (MariaDB only)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() "
                       "AND id <> CONNECTION_ID()")
        return cursor.fetchone()[0]


def test_many_slow_streams_complete_while_healthz_answers(streaming_server, provider):
    user = make_user("streamer")
    token = Token.objects.create(user=user).key
    sessions = [str(make_session(user, f"Chat {n}").id) for n in range(STREAMS)]
    port = streaming_server.port
    seen = {"streams": 0, "connections": 0}

    async def probe_while_streaming(streams: asyncio.Future) -> list[int]:
        statuses = []
        while not streams.done():
            status, _, _ = await request("127.0.0.1", port, "GET", "/healthz")
            statuses.append(status)
            seen["streams"] = max(seen["streams"], provider.open_streams)
            if connection.vendor == "mysql" and provider.open_streams == STREAMS:
                seen["connections"] = max(seen["connections"], await asyncio.to_thread(database_connections))
            await asyncio.sleep(0.05)  # a probe's pace, not a wait for timing
        return statuses

    async def run():
        streams = asyncio.ensure_future(asyncio.gather(*(chat_stream("127.0.0.1", port, s, token) for s in sessions)))
        statuses = await probe_while_streaming(streams)
        return await streams, statuses

    results, statuses = asyncio.run(run())

    assert [r.ended for r in results] == ["done"] * STREAMS, [r.error or r.last for r in results]
    assert all(r.tokens == TOKENS and r.content_type.startswith("text/event-stream") for r in results)
    assert seen["streams"] == STREAMS  # all answers were open at once, not one after another
    assert statuses and set(statuses) == {200}
    answers = Message.objects.filter(role=Message.Role.ASSISTANT)
    assert answers.count() == STREAMS and set(answers.values_list("status", flat=True)) == {"complete"}
    if connection.vendor == "mysql":
        # Each waiting answer gave its database connection back: far fewer connections than open answers.
        assert seen["connections"] < STREAMS // 2, seen


def test_provider_dying_mid_stream_ends_with_error_and_retry_answers(streaming_server, provider):
    user = make_user("unlucky")
    token = Token.objects.create(user=user).key
    session = make_session(user, "Interrupted")
    provider.cut_after = 3

    broken = asyncio.run(chat_stream("127.0.0.1", streaming_server.port, str(session.id), token))
    assert broken.ended == "error" and broken.tokens == 3
    assert "broke off" in broken.last["detail"]
    failed = session.messages.get(role=Message.Role.ASSISTANT)
    assert failed.status == "failed" and failed.content == "word0 word1 word2 "

    provider.cut_after = None
    retried = asyncio.run(chat_stream("127.0.0.1", streaming_server.port, str(session.id), token, retry=True))
    assert retried.ended == "done" and retried.tokens == TOKENS
    assert list(session.messages.values_list("role", "status")) == [("user", "complete"), ("assistant", "complete")]
