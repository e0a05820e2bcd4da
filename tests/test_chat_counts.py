"""A chat's message count and whether it has a scope are kept on its row (the list reads them there): every way
messages and scopes change keeps them equal to what the chat holds."""

import importlib

import pytest
from django.apps import apps

from knowledge.models import Collection
from sessions_app.models import ChatSession, Message
from tests.factories import make_collection, make_document, make_message, make_session

pytestmark = pytest.mark.usefixtures("fresh_index")


def listed(api, session) -> dict:
    return next(item for item in api.get("/api/sessions").json()["results"] if item["id"] == str(session.id))


def ask(api, session, body) -> None:
    response = api.post(f"/api/sessions/{session.id}/chat", body, format="json")
    assert response.status_code == 201, response.content


def test_turns_retries_and_edits_keep_the_count(api, user):
    make_document("The Eiffel Tower is 330 metres tall and stands in Paris.", title="Eiffel")
    session = make_session(user)
    ask(api, session, {"message": "How tall is the Eiffel Tower?"})
    ask(api, session, {"message": "Where is it?"})
    assert listed(api, session)["message_count"] == 4
    ask(api, session, {"retry": True})  # the last answer is replaced: one deleted, one added
    question = session.messages.filter(role=Message.Role.USER).last()
    ask(api, session, {"message": "Which city is it in?", "edit": question.id})
    streamed = api.post(f"/api/sessions/{session.id}/chat", {"message": "And its height?", "stream": True},
                        format="json")
    b"".join(streamed.streaming_content)
    assert session.messages.count() == 6
    assert listed(api, session)["message_count"] == 6
    assert api.get(f"/api/sessions/{session.id}").json()["message_count"] == 6


def test_a_stale_copy_of_a_chat_saved_later_keeps_the_count(api, user):
    session = make_session(user)  # this copy says 0 messages
    make_message(session, "hello")
    make_message(session, "again")
    session.name = "Renamed"
    session.save()  # as a form or an older request's copy would
    assert listed(api, session)["message_count"] == 2 and listed(api, session)["name"] == "Renamed"


def test_a_message_deleted_twice_counts_once(api, user):
    """Two copies of one message (two admins on its page): the second delete finds no row and takes nothing off."""
    session = make_session(user)
    first = make_message(session, "hello")
    make_message(session, "again")
    stale = Message.objects.get(pk=first.pk)
    first.delete()
    assert stale.delete()[0] == 0
    assert listed(api, session)["message_count"] == 1 == session.messages.count()


def test_setting_clearing_and_losing_a_scope_keep_the_flag(api, user):
    contracts = make_collection("Contracts")
    menu = make_document("Soup on Mondays.", title="Menu")
    session = make_session(user)
    scope = {"collections": [contracts.pk], "documents": [menu.pk]}
    assert api.patch(f"/api/sessions/{session.id}", {"scope": scope}, format="json").status_code == 200
    assert ChatSession.objects.get(pk=session.pk).has_scope
    assert listed(api, session)["scope"] == scope
    empty = {"collections": [], "documents": []}
    assert api.patch(f"/api/sessions/{session.id}", {"scope": empty}, format="json").status_code == 200
    assert not ChatSession.objects.get(pk=session.pk).has_scope and listed(api, session)["scope"] == empty
    session.scope_collections.add(contracts)  # through the manager, as the admin does
    assert ChatSession.objects.get(pk=session.pk).has_scope
    Collection.objects.filter(pk=contracts.pk).delete()  # its scope rows go with it; the list shows none
    assert listed(api, session)["scope"] == empty and listed(api, session)["scope_items"] == []


def test_the_migration_counts_the_chats_already_there(user):
    session = make_session(user)
    for n in range(3):
        make_message(session, f"message {n}")
    session.scope_documents.add(make_document("Soup on Mondays.", title="Menu"))
    other = make_session(user)
    ChatSession.objects.update(message_count=0, has_scope=False)  # as the columns start out
    migration = importlib.import_module("sessions_app.migrations.0006_chat_counts_on_row")
    migration.count_existing(apps, None)
    assert ChatSession.objects.get(pk=session.pk).message_count == 3
    assert ChatSession.objects.get(pk=session.pk).has_scope
    assert ChatSession.objects.get(pk=other.pk).message_count == 0
    assert not ChatSession.objects.get(pk=other.pk).has_scope
    assert ChatSession.objects.filter(pk=session.pk).recount() == 1  # the same, for rows written in bulk
    assert ChatSession.objects.get(pk=session.pk).message_count == 3


def test_a_count_left_short_by_bulk_writes_never_goes_below_zero(user):
    session = make_session(user)
    Message.objects.bulk_create([Message(session=session, role=Message.Role.USER, content="written in bulk")])
    assert ChatSession.objects.get(pk=session.pk).message_count == 0  # bulk_create passes by the count
    session.messages.get().delete()  # no out-of-range error: the count stays at 0
    assert ChatSession.objects.get(pk=session.pk).message_count == 0
