"""The database behaves as operators rely on: 4-byte characters, long text and strict mode (on MariaDB/MySQL)."""

import pytest
from django.db import connection

from sessions_app.models import ChatSession, Message
from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db

EMOJI = "Grüße 👋🏽 from 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 — 你好 🧪"


def test_emoji_and_4_byte_characters_round_trip(api, user):
    created = api.post("/api/sessions", {"name": EMOJI}, format="json").json()
    session = ChatSession.objects.get(id=created["id"])
    make_message(session, EMOJI * 3)
    assert api.get(f"/api/sessions/{session.id}").json()["name"] == EMOJI
    assert api.get(f"/api/sessions/{session.id}/messages").json()["results"][0]["content"] == EMOJI * 3


def test_long_message_text_is_stored_whole(user):
    session = make_session(user)
    big = "a" * 300_000  # past MySQL's 64 KiB TEXT: message content must be LONGTEXT
    message = make_message(session, big)
    assert len(Message.objects.get(id=message.id).content) == 300_000


@pytest.mark.skipif(connection.vendor != "mysql", reason="MySQL/MariaDB connection settings")
def test_mysql_connection_is_utf8mb4_and_strict():
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@character_set_connection, @@sql_mode")
        charset, sql_mode = cursor.fetchone()
    assert charset == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in sql_mode
