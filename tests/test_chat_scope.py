"""A chat limited to chosen collections or documents: saved with the session, shown, validated, and the only
place its retrieval looks (still within what its owner may read at the time of the question)."""

import pytest
from django.contrib.auth.models import Group

from sessions_app.models import ChatSession
from tests.factories import make_collection, make_document, make_session

pytestmark = pytest.mark.usefixtures("fresh_index")

CONTRACTS = "The supplier contract with Acme renews every March and carries a ninety day notice period."
LEASE = "The office lease in Berlin runs until 2030; the notice period is six months before the end."
MENU = "The canteen serves lentil soup on Mondays and a vegetarian lasagne on Thursdays."


@pytest.fixture
def library(db, user, other_user):
    legal = Group.objects.create(name="Legal")
    user.groups.add(legal)
    contracts = make_collection("Contracts", groups=[legal])
    secret = make_collection("Board", groups=[Group.objects.create(name="Board")])
    return {
        "legal": legal, "contracts": contracts, "secret": secret,
        "acme": make_document(CONTRACTS, title="Acme contract", collection=contracts),
        "lease": make_document(LEASE, title="Berlin lease", collection=contracts),
        "menu": make_document(MENU, title="Canteen menu"),
        "board": make_document("The board meets on the notice period question in March.", title="Board minutes",
                               collection=secret),
    }


def ask(api, session, text):
    response = api.post(f"/api/sessions/{session.id}/chat", {"message": text}, format="json")
    assert response.status_code == 201, response.content
    return {s["document_title"] for s in response.json()["assistant_message"]["sources"]}


def test_a_new_session_has_no_scope_and_searches_everything_readable(api, user, library):
    body = api.post("/api/sessions", {}, format="json").json()
    assert body["scope"] == {"collections": [], "documents": []} and body["scope_items"] == []


def test_scope_is_saved_shown_and_listed(api, user, library):
    session = make_session(user)
    response = api.patch(f"/api/sessions/{session.id}", {"scope": {"collections": [library["contracts"].pk],
                                                                   "documents": [library["menu"].pk]}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == {"collections": [library["contracts"].pk], "documents": [library["menu"].pk]}
    assert body["scope_items"] == [
        {"kind": "collection", "id": library["contracts"].pk, "name": "Contracts"},
        {"kind": "document", "id": library["menu"].pk, "name": "Canteen menu"}]
    listed = api.get("/api/sessions").json()["results"][0]
    assert listed["scope"] == body["scope"]
    assert api.get(f"/api/sessions/{session.id}").json()["scope_items"] == body["scope_items"]


def test_scoping_keeps_the_chats_place_in_the_list(api, user, library):
    session = make_session(user)
    before = ChatSession.objects.get(pk=session.pk).updated_at
    api.patch(f"/api/sessions/{session.id}", {"scope": {"documents": [library["menu"].pk]}}, format="json")
    assert ChatSession.objects.get(pk=session.pk).updated_at == before


def test_retrieval_looks_only_inside_the_scope(api, user, library):
    session = make_session(user)
    question = "What is the notice period?"
    assert {"Acme contract", "Berlin lease"} <= ask(api, session, question)
    api.patch(f"/api/sessions/{session.id}", {"scope": {"documents": [library["lease"].pk]}}, format="json")
    assert ask(api, session, question) == {"Berlin lease"}
    api.patch(f"/api/sessions/{session.id}", {"scope": {"collections": [library["contracts"].pk]}}, format="json")
    assert ask(api, session, question) <= {"Acme contract", "Berlin lease"}
    api.patch(f"/api/sessions/{session.id}", {"scope": {"collections": [], "documents": []}}, format="json")
    assert "Acme contract" in ask(api, session, question)


def test_unreadable_and_missing_ids_are_refused_alike(api, user, library):
    session = make_session(user)
    url = f"/api/sessions/{session.id}"
    hidden = api.patch(url, {"scope": {"collections": [library["secret"].pk]}}, format="json")
    missing = api.patch(url, {"scope": {"collections": [987654]}}, format="json")
    assert hidden.status_code == missing.status_code == 400
    assert set(hidden.json()["scope"]) == {"collections"}
    hidden = api.patch(url, {"scope": {"documents": [library["board"].pk]}}, format="json")
    assert hidden.status_code == 400
    assert hidden.json() == {"scope": {"documents": [f"No such document: {library['board'].pk}."]}}
    assert api.get(url).json()["scope"] == {"collections": [], "documents": []}


@pytest.mark.parametrize("scope", [{"collections": "3"}, {"documents": [0]}, {"collections": [True]},
                                   {"documents": ["x"]}, "all", {"collections": list(range(1, 200))}])
def test_malformed_scopes_are_400(api, user, scope):
    session = make_session(user)
    assert api.patch(f"/api/sessions/{session.id}", {"scope": scope}, format="json").status_code == 400


def test_a_scope_item_the_owner_lost_is_hidden_and_no_longer_searched(api, user, library):
    session = make_session(user)
    api.patch(f"/api/sessions/{session.id}", {"scope": {"collections": [library["contracts"].pk]}}, format="json")
    user.groups.remove(library["legal"])
    assert api.get(f"/api/sessions/{session.id}").json()["scope_items"] == []
    assert ask(api, session, "What is the notice period?") == set()


def test_another_users_session_scope_is_404(other_api, user, library):
    session = make_session(user)
    response = other_api.patch(f"/api/sessions/{session.id}", {"scope": {"documents": [library["menu"].pk]}},
                               format="json")
    assert response.status_code == 404
