"""The chat list: search by title and content, pinned chats first, archived chats apart, paged."""

import pytest

from sessions_app.models import ChatSession, Message
from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db


def names(api, query="") -> list[str]:
    response = api.get(f"/api/sessions{query}")
    assert response.status_code == 200, response.content
    return [s["name"] for s in response.json()["results"]]


def test_search_finds_chats_by_title_and_by_message_content(api, user):
    make_session(user, "Budget 2026")
    travel = make_session(user, "Trip")
    make_message(travel, "Which hotels near the Eiffel Tower take pets?")
    make_message(travel, "The **Budget** Inn does.", role=Message.Role.ASSISTANT)
    make_session(user, "Unrelated")
    assert sorted(names(api, "?search=budget")) == ["Budget 2026", "Trip"]
    assert names(api, "?search=EIFFEL tower") == ["Trip"]
    assert names(api, "?search=nothing like this") == []


def test_search_results_carry_a_snippet_of_the_matching_message(api, user):
    session = make_session(user, "Trip")
    make_message(session, "Hello there")
    make_message(session, "Long preamble. " * 10 + "The hotel takes pets on the ground floor. " + "More. " * 30,
                 role=Message.Role.ASSISTANT)
    make_session(user, "Pets at home")
    results = {s["name"]: s for s in api.get("/api/sessions?search=takes pets").json()["results"]}
    snippet = results["Trip"]["match"]
    assert "The hotel takes pets on the ground floor." in snippet
    assert snippet.startswith("…") and snippet.endswith("…") and len(snippet) < 200
    assert api.get("/api/sessions?search=pets").json()["results"][0]["match"] is None  # its name matched
    assert api.get("/api/sessions").json()["results"][0]["match"] is None


def test_search_never_shows_another_users_chats(api, user, other_user):
    mine = make_session(user, "Mine")
    make_message(mine, "public roadmap")
    theirs = make_session(other_user, "Roadmap secrets")
    make_message(theirs, "the secret roadmap")
    assert names(api, "?search=roadmap") == ["Mine"]
    assert names(api, "?search=secret") == []


def test_search_words_are_text_not_patterns(api, user):
    make_session(user, "100% sure")
    make_session(user, "1000 things")
    make_session(user, "a_b")
    make_session(user, "axb")
    assert names(api, "?search=100%25") == ["100% sure"]
    assert names(api, "?search=a_b") == ["a_b"]


@pytest.mark.parametrize("query", ["?search=" + "x" * 201, "?archived=maybe"])
def test_bad_list_parameters_are_400(api, query):
    response = api.get(f"/api/sessions{query}")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


def test_pinned_chats_come_first_and_pinning_does_not_reorder_the_rest(api, user):
    old = make_session(user, "Old")
    make_session(user, "Middle")
    make_session(user, "New")
    response = api.patch(f"/api/sessions/{old.id}", {"pinned": True}, format="json")
    assert response.status_code == 200 and response.json()["pinned"] is True
    assert names(api) == ["Old", "New", "Middle"]
    api.patch(f"/api/sessions/{old.id}", {"pinned": False}, format="json")
    assert names(api) == ["New", "Middle", "Old"]  # unpinned, it goes back to where its last activity puts it


def test_renaming_does_not_move_a_chat(api, user):
    first = make_session(user, "First")
    make_session(user, "Second")
    api.patch(f"/api/sessions/{first.id}", {"name": "Renamed"}, format="json")
    assert names(api) == ["Second", "Renamed"]


def test_archived_chats_leave_the_list_and_are_listed_apart(api, user):
    keep = make_session(user, "Keep")
    done = make_session(user, "Done")
    response = api.patch(f"/api/sessions/{done.id}", {"archived": True}, format="json")
    assert response.status_code == 200 and response.json()["archived"] is True
    assert names(api) == ["Keep"]
    assert names(api, "?archived=true") == ["Done"]
    assert names(api, "?archived=true&search=done") == ["Done"] and names(api, "?search=done") == []
    assert api.get(f"/api/sessions/{done.id}").json()["archived"] is True  # still opens by its address
    api.patch(f"/api/sessions/{done.id}", {"archived": False}, format="json")
    assert sorted(names(api)) == ["Done", "Keep"] and keep.id


def test_asking_in_an_archived_chat_brings_it_back(api, user):
    session = make_session(user, "Archived")
    session.archived = True
    session.save()
    assert api.post(f"/api/sessions/{session.id}/chat", {"message": "Still there?"}, format="json").status_code == 201
    session.refresh_from_db()
    assert session.archived is False


@pytest.mark.parametrize("body", [{"pinned": "yes"}, {"pinned": 1}, {"archived": None}, {"archived": "true"}])
def test_pin_and_archive_take_json_booleans_only(api, user, body):
    session = make_session(user)
    assert api.patch(f"/api/sessions/{session.id}", body, format="json").status_code == 400
    session.refresh_from_db()
    assert not session.pinned and not session.archived


def test_another_users_chat_cannot_be_pinned_or_archived(api, other_user):
    theirs = make_session(other_user)
    for body in ({"pinned": True}, {"archived": True}):
        assert api.patch(f"/api/sessions/{theirs.id}", body, format="json").status_code == 404
    theirs.refresh_from_db()
    assert not theirs.pinned and not theirs.archived


def test_the_list_pages_with_pinned_chats_on_the_first_page(api, user):
    for i in range(5):
        make_session(user, f"Chat {i}")
    pinned = make_session(user, "Pinned")
    ChatSession.objects.filter(id=pinned.id).update(pinned=True, updated_at="2000-01-01T00:00:00Z")
    first = api.get("/api/sessions?page_size=2").json()
    assert first["count"] == 6 and [s["name"] for s in first["results"]] == ["Pinned", "Chat 4"]
    second = api.get(first["next"]).json()
    assert [s["name"] for s in second["results"]] == ["Chat 3", "Chat 2"]
