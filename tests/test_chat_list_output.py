"""The chat list writes stored values straight to JSON (sessions_app/listing.py): each item must be exactly what
the serializer writes for the same chat through a model instance, as one chat's own endpoint does."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from sessions_app.models import ChatSession
from tests.factories import make_collection, make_document, make_message, make_session


def listed_and_shown(api, archived: bool = False) -> list[tuple[dict, dict]]:
    listed = api.get("/api/sessions", {"archived": str(archived).lower()}).json()["results"]
    return [(item, api.get(f"/api/sessions/{item['id']}").json()) for item in listed]


def test_each_listed_chat_is_what_its_own_endpoint_writes(api, user):
    contracts = make_collection("Contracts")
    menu = make_document("Soup on Mondays, fish on Fridays.", title="Canteen menu")
    plain = make_session(user, name='Quotes " and \\ and ünïcödé ☕ and emoji 🧪')
    for n in range(3):
        make_message(plain, f"message {n}")
    pinned = make_session(user, name="Pinned")
    whole_second = make_session(user, name="Made on a whole second")
    scoped = make_session(user, name="Scoped")
    archived = make_session(user, name="Archived")
    ChatSession.objects.filter(pk=pinned.pk).update(pinned=True)
    ChatSession.objects.filter(pk=archived.pk).update(archived=True)
    # No fraction of a second: DRF then writes none ("...:44Z"), and MySQL's text of it has ".000000".
    ChatSession.objects.filter(pk=whole_second.pk).update(created_at=datetime(2026, 11, 25, 16, 8, 44, tzinfo=UTC),
                                                          updated_at=datetime(2026, 11, 25, 16, 9, 0, tzinfo=UTC))
    scoped.scope_collections.set([contracts])
    scoped.scope_documents.set([menu])

    pairs = listed_and_shown(api)
    assert {item["name"] for item, _ in pairs} == {plain.name, "Pinned", "Made on a whole second", "Scoped"}
    for item, shown in pairs:
        assert list(item) == list(shown) and item == shown, item["name"]
    by_name = {item["name"]: item for item, _ in pairs}
    assert by_name[plain.name]["message_count"] == 3 and by_name["Pinned"]["pinned"] is True
    assert by_name["Made on a whole second"]["created_at"] == "2026-11-25T16:08:44Z"
    assert by_name["Scoped"]["scope"] == {"collections": [contracts.pk], "documents": [menu.pk]}
    [(item, shown)] = listed_and_shown(api, archived=True)
    assert item == shown and item["archived"] is True


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite keeps datetimes as text of any form")
def test_a_datetime_stored_in_another_form_is_written_as_drf_writes_it(api, user):
    session = make_session(user, name="Edited by hand")
    with connection.cursor() as cursor:  # a shorter fraction than Django writes, as a hand-made row might have
        cursor.execute("UPDATE sessions_app_chatsession SET created_at = '2026-11-25 16:08:44.79' WHERE id = %s",
                       [session.pk.hex])
    [(item, shown)] = listed_and_shown(api)
    assert item == shown and item["created_at"] == "2026-11-25T16:08:44.790000Z"
