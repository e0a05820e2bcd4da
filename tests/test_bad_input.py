"""Input an attacker sends gets a JSON 4xx and changes nothing: never a 500."""

import pytest

from sessions_app.models import ChatSession, Message
from tests.factories import make_session

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/sessions", "/api/documents"])
def test_json_nested_100000_deep_is_400(api, path):
    body = "[" * 100_000 + "]" * 100_000
    response = api.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert not ChatSession.objects.exists()


def test_chat_with_a_36_character_non_uuid_id_is_404(api):
    response = api.post("/api/sessions/" + "z" * 36 + "/chat", {"message": "Hi"}, format="json")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    response = api.post("/api/sessions/" + "-" * 36 + "/chat", {"message": "Hi"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"])
def test_session_names_with_bidi_override_or_isolate_are_400(api, user, char):
    session = make_session(user, "Keep me")
    response = api.post("/api/sessions", {"name": f"invoice{char}fdp.exe"}, format="json")
    assert response.status_code == 400 and "bidirectional" in response.json()["name"][0]
    assert api.patch(f"/api/sessions/{session.id}", {"name": f"a{char}b"}, format="json").status_code == 400
    session.refresh_from_db()
    assert session.name == "Keep me" and ChatSession.objects.count() == 1


def test_right_to_left_text_itself_is_a_fine_name(api):
    assert api.post("/api/sessions", {"name": "שלום עולם \u200f(RLM)"}, format="json").status_code == 201


@pytest.mark.parametrize("page_size", ["abc", "0", "-1", "1.5", "0" * 5000, "٣"])
def test_a_bad_page_size_is_400(api, page_size):
    response = api.get("/api/sessions", {"page_size": page_size})
    assert response.status_code == 400 and "page_size" in response.json()


def test_a_huge_page_size_is_cut_to_the_maximum(api):
    assert api.get("/api/sessions", {"page_size": "9" * 5000}).status_code == 200


@pytest.mark.parametrize("path", ["/api/documents/99999999999999999999999999", "/api/documents/-1",
                                  "/api/sessions/99999999999999999999999999"])
def test_out_of_range_ids_are_404(api, path):
    assert api.get(path).status_code == 404


def test_a_form_encoded_body_is_415_for_json_endpoints(api, user):
    response = api.post("/api/sessions", "name=", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and not ChatSession.objects.exists()


def test_a_search_query_longer_than_a_request_line_allows_is_400(api):
    assert api.get("/api/search", {"q": "x" * 501}).status_code == 400


def test_a_non_text_message_changes_nothing(api, user):
    session = make_session(user)
    for body in ({"message": 7}, {"message": ["a"]}, {"message": "  "}, {"message": "a\x00b"}):
        assert api.post(f"/api/sessions/{session.id}/chat", body, format="json").status_code == 400
    assert not Message.objects.exists()
