"""Access to collections is enforced everywhere, as 404: two users in two groups, each leak path tried.

alice is in HR, bob in Engineering; "Salaries" is HR's, "Runbooks" Engineering's, "General" everyone's.
"""

import json

import pytest
from django.contrib.auth.models import Group

from knowledge.models import Document
from tests.factories import make_collection, make_document, make_session

pytestmark = pytest.mark.usefixtures("fresh_index")

SALARY = "The salary bands for engineers range from level one to level five, reviewed every April by HR."
RUNBOOK = "Restart the payment gateway with the zebra procedure: drain the queue, then flip the canary switch."
HANDBOOK = "Everyone gets twenty-five days of holiday; the office closes between Christmas and New Year."


@pytest.fixture
def world(db, user, other_user):
    hr, eng = Group.objects.create(name="HR"), Group.objects.create(name="Engineering")
    user.groups.add(hr)
    other_user.groups.add(eng)
    salaries, runbooks = make_collection("Salaries", groups=[hr]), make_collection("Runbooks", groups=[eng])
    return {
        "hr": hr, "eng": eng, "salaries": salaries, "runbooks": runbooks,
        "salary": make_document(SALARY, title="Salary bands", collection=salaries, user=user),
        "runbook": make_document(RUNBOOK, title="Gateway runbook", collection=runbooks, user=other_user),
        "handbook": make_document(HANDBOOK, title="Handbook", user=other_user),
    }


def titles(listing):
    return sorted(d["title"] for d in listing["results"])


def test_document_list_shows_only_readable_collections(api, other_api, world):
    assert titles(api.get("/api/documents").json()) == ["Handbook", "Salary bands"]
    assert titles(other_api.get("/api/documents").json()) == ["Gateway runbook", "Handbook"]


def test_staff_read_every_collection(staff_user, world):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(staff_user)
    assert titles(client.get("/api/documents").json()) == ["Gateway runbook", "Handbook", "Salary bands"]


@pytest.mark.parametrize("suffix", ["", "/chunks", "/text"])
def test_detail_and_chunks_of_an_unreadable_document_are_404(api, world, suffix):
    assert api.get(f"/api/documents/{world['runbook'].pk}{suffix}").status_code == 404
    assert api.get(f"/api/documents/{world['salary'].pk}{suffix}").status_code == 200


def test_delete_retry_and_move_of_an_unreadable_document_are_404(api, world):
    runbook = world["runbook"]
    assert api.delete(f"/api/documents/{runbook.pk}").status_code == 404
    assert api.post(f"/api/documents/{runbook.pk}/retry").status_code == 404
    moved = api.patch(f"/api/documents/{runbook.pk}", {"collection": world["salaries"].pk}, format="json")
    assert moved.status_code == 404
    assert Document.objects.get(pk=runbook.pk).collection == world["runbooks"]


def test_a_reader_who_is_not_uploader_owner_or_staff_may_not_delete_or_move(api, world):
    handbook = world["handbook"]  # bob's, in General: alice reads it
    assert api.delete(f"/api/documents/{handbook.pk}").status_code == 404
    assert api.patch(f"/api/documents/{handbook.pk}", {"collection": world["salaries"].pk},
                     format="json").status_code == 404
    assert api.get(f"/api/documents/{handbook.pk}").json()["can_delete"] is False


def test_the_collections_owner_may_delete_a_document_someone_else_uploaded(api, user, other_user, world):
    mine = make_collection("Alice's notes", owner=user)
    theirs = make_document("Notes about the quarterly offsite in Lisbon.", title="Offsite", collection=mine,
                           user=other_user)
    assert api.get(f"/api/documents/{theirs.pk}").json()["can_delete"] is True
    assert api.delete(f"/api/documents/{theirs.pk}").status_code == 204


def test_uploader_moves_a_document_and_its_readers_change_at_once(api, other_api, world):
    salary = world["salary"]
    response = api.patch(f"/api/documents/{salary.pk}", {"collection": world["salaries"].pk}, format="json")
    assert response.status_code == 200
    assert other_api.get(f"/api/documents/{salary.pk}").status_code == 404
    general = Document.objects.get(pk=world["handbook"].pk).collection
    response = api.patch(f"/api/documents/{salary.pk}", {"collection": general.pk}, format="json")
    assert response.status_code == 200 and response.json()["collection_name"] == "General"
    assert other_api.get(f"/api/documents/{salary.pk}").status_code == 200
    hits = other_api.get("/api/search", {"q": "salary bands engineers", "k": 5}).json()
    assert "Salary bands" in [h["document_title"] for h in hits]


def test_moving_into_a_collection_you_cannot_read_is_refused_like_a_missing_one(api, world):
    salary = world["salary"]
    hidden = api.patch(f"/api/documents/{salary.pk}", {"collection": world["runbooks"].pk}, format="json")
    missing = api.patch(f"/api/documents/{salary.pk}", {"collection": 999999}, format="json")
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json() == missing.json() == {"collection": ["No such collection."]}


def test_upload_into_a_collection_you_cannot_read_is_refused(api, world):
    body = {"content": "A new runbook page.", "collection": world["runbooks"].pk}
    response = api.post("/api/documents", body, format="json")
    assert response.status_code == 400 and response.json() == {"collection": ["No such collection."]}
    assert not Document.objects.filter(title="A new runbook page.").exists()


def test_upload_into_a_readable_collection_lands_there(api, world):
    body = {"content": "HR's policy on parental leave.", "collection": world["salaries"].pk, "wait": True}
    response = api.post("/api/documents", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["collection"] == world["salaries"].pk


def test_a_duplicate_of_a_hidden_document_does_not_show_it(api, world):
    response = api.post("/api/documents", {"content": RUNBOOK}, format="json")
    assert response.status_code == 409
    assert "document" not in response.json() and "runbook" not in json.dumps(response.json()).lower()


def test_search_never_returns_unreadable_chunks(api, other_api, world):
    hits = api.get("/api/search", {"q": "restart the payment gateway zebra procedure", "k": 10}).json()
    assert "Gateway runbook" not in [h["document_title"] for h in hits]
    hits = other_api.get("/api/search", {"q": "restart the payment gateway zebra procedure", "k": 10}).json()
    assert hits[0]["document_title"] == "Gateway runbook"


def test_chat_sources_never_cite_unreadable_documents(api, user, world):
    session = make_session(user)
    response = api.post(f"/api/sessions/{session.id}/chat", {"message": "How do I restart the payment gateway?"},
                        format="json")
    assert response.status_code == 201
    answer = response.json()["assistant_message"]
    assert world["runbook"].pk not in [s["document_id"] for s in answer["sources"]]
    assert "zebra" not in answer["content"]


def test_streamed_events_never_carry_unreadable_documents(api, user, world):
    session = make_session(user)
    response = api.post(f"/api/sessions/{session.id}/chat", {"message": "How do I restart the payment gateway?",
                                                             "stream": True}, format="json")
    body = b"".join(response.streaming_content).decode()
    assert "event: done" in body
    assert "zebra" not in body and "Gateway runbook" not in body


def test_a_retry_after_leaving_the_group_no_longer_cites_its_documents(api, user, world):
    session = make_session(user)
    url = f"/api/sessions/{session.id}/chat"
    first = api.post(url, {"message": "What are the salary bands for engineers?"}, format="json").json()
    assert world["salary"].pk in [s["document_id"] for s in first["assistant_message"]["sources"]]
    user.groups.remove(world["hr"])
    again = api.post(url, {"retry": True}, format="json")
    assert again.status_code == 201
    assert world["salary"].pk not in [s["document_id"] for s in again.json()["assistant_message"]["sources"]]
    assert api.get(f"/api/documents/{world['salary'].pk}").status_code == 404


def test_editing_the_last_question_searches_only_what_is_readable_now(api, user, world):
    session = make_session(user)
    url = f"/api/sessions/{session.id}/chat"
    question = api.post(url, {"message": "What is in the handbook?"}, format="json").json()["user_message"]
    edited = api.post(url, {"message": "How do I restart the payment gateway?", "edit": question["id"]},
                      format="json")
    assert edited.status_code == 201
    assert world["runbook"].pk not in [s["document_id"] for s in edited.json()["assistant_message"]["sources"]]


def test_old_messages_do_not_show_sources_the_reader_lost(api, user, world):
    session = make_session(user)
    url = f"/api/sessions/{session.id}/chat"
    api.post(url, {"message": "What are the salary bands for engineers?"}, format="json")
    user.groups.remove(world["hr"])
    messages = api.get(f"/api/sessions/{session.id}/messages").json()["results"]
    assert all(s["document_id"] != world["salary"].pk for m in messages for s in m["sources"])
