"""Chat sessions through the REST API: CRUD, ordering, validation, and privacy between users."""

import uuid

import pytest

from sessions_app.models import ChatSession, Message
from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db


def test_create_session_with_name(api, user):
    response = api.post("/api/sessions", {"name": "  Quarterly report  "}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Quarterly report"
    assert body["message_count"] == 0
    assert set(body) == {"id", "name", "pinned", "archived", "created_at", "updated_at", "message_count", "match",
                         "scope", "scope_items"}
    assert body["pinned"] is False and body["archived"] is False and body["match"] is None
    assert ChatSession.objects.get(id=body["id"]).owner == user


def test_create_session_without_name_gets_default(api):
    response = api.post("/api/sessions", {}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "New chat"


def test_trailing_slash_also_works(api):
    assert api.post("/api/sessions/", {}, format="json").status_code == 201
    assert api.get("/api/sessions/").status_code == 200


def test_list_is_newest_first_with_message_counts(api, user):
    old = make_session(user, "old")
    new = make_session(user, "new")
    make_message(old, "hello")
    make_message(old, "again")
    old.save()  # touching a session (a new message) moves it to the top
    names = [s["name"] for s in api.get("/api/sessions").json()["results"]]
    assert names == ["old", "new"]
    counts = {s["name"]: s["message_count"] for s in api.get("/api/sessions").json()["results"]}
    assert counts == {"old": 2, "new": 0}
    assert new.id


def test_rename_session(api, user):
    session = make_session(user, "Draft")
    response = api.patch(f"/api/sessions/{session.id}", {"name": "Final 🎉"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Final 🎉"
    session.refresh_from_db()
    assert session.name == "Final 🎉"


def test_delete_session_removes_its_messages(api, user):
    session = make_session(user)
    make_message(session, "hi")
    assert api.delete(f"/api/sessions/{session.id}").status_code == 204
    assert not ChatSession.objects.filter(id=session.id).exists()
    assert not Message.objects.exists()


def test_messages_oldest_first(api, user):
    session = make_session(user)
    first = make_message(session, "first")
    second = make_message(session, "second", role=Message.Role.ASSISTANT, sources=[{"n": 1}], model="m")
    response = api.get(f"/api/sessions/{session.id}/messages")
    assert response.status_code == 200
    body = response.json()["results"]
    assert [m["id"] for m in body] == [first.id, second.id]
    assert body[1]["role"] == "assistant" and body[1]["sources"] == [{"n": 1}] and body[1]["status"] == "complete"
    assert {"id", "role", "content", "status", "sources", "model", "created_at"} <= set(body[0])


@pytest.mark.parametrize("name, reason", [
    ("", "blank"),
    ("   ", "blank after trimming"),
    ("x" * 201, "too long"),
    ("tab\there", "control character"),
    ("line\nbreak", "control character"),
    ("nul\x00byte", "NUL"),
    ("trailing\x85", "a C1 control that Python strips as whitespace"),
    ("\x1cleading", "a separator control that Python strips as whitespace"),
    (42, "not a string"),
    (None, "null"),
    (["a"], "a list"),
])
def test_invalid_names_are_400_and_change_nothing(api, user, name, reason):
    session = make_session(user, "Keep me")
    created = api.post("/api/sessions", {"name": name}, format="json")
    assert created.status_code == 400, reason
    assert "name" in created.json()
    renamed = api.patch(f"/api/sessions/{session.id}", {"name": name}, format="json")
    assert renamed.status_code == 400, reason
    session.refresh_from_db()
    assert session.name == "Keep me"
    assert ChatSession.objects.count() == 1


def test_name_of_200_characters_is_accepted(api):
    assert api.post("/api/sessions", {"name": "é" * 200}, format="json").status_code == 201


def test_malformed_json_is_a_json_400(api):
    response = api.generic("POST", "/api/sessions", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


@pytest.mark.parametrize("path", ["/api/sessions/not-a-uuid", f"/api/sessions/{uuid.uuid4()}",
                                  f"/api/sessions/{uuid.uuid4()}/messages"])
def test_unknown_or_malformed_session_is_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."} or "detail" in response.json()


def test_other_users_session_is_404_and_unchanged(api, other_user):
    theirs = make_session(other_user, "Private")
    make_message(theirs, "secret")
    assert api.get(f"/api/sessions/{theirs.id}").status_code == 404
    assert api.get(f"/api/sessions/{theirs.id}/messages").status_code == 404
    assert api.patch(f"/api/sessions/{theirs.id}", {"name": "Mine now"}, format="json").status_code == 404
    assert api.delete(f"/api/sessions/{theirs.id}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Private" and theirs.messages.count() == 1


def test_users_do_not_see_each_others_sessions(api, other_api, user, other_user):
    make_session(user, "alice's")
    make_session(other_user, "bob's")
    assert [s["name"] for s in api.get("/api/sessions").json()["results"]] == ["alice's"]
    assert [s["name"] for s in other_api.get("/api/sessions").json()["results"]] == ["bob's"]


def test_put_is_not_allowed(api, user):
    session = make_session(user)
    assert api.put(f"/api/sessions/{session.id}", {"name": "x"}, format="json").status_code == 405
