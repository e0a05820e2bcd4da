"""A chat exported as Markdown or JSON, as a download; another user's chat is 404."""

import json

import pytest

from sessions_app.models import Feedback, Message
from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db

SOURCE = {"n": 1, "document_id": 3, "document_title": "Handbook", "chunk_id": 9, "score": 0.8,
          "snippet": "Every employee has twenty-five days of paid leave.", "page": 4}


@pytest.fixture
def session(user):
    session = make_session(user, "Leave: how many days?")
    make_message(session, "How many days of leave?")
    answer = make_message(session, "Twenty-five days [1].", role=Message.Role.ASSISTANT, model="gpt-test",
                          sources=[SOURCE])
    Feedback.objects.create(message=answer, user=user, rating="up", comment="Exactly")
    make_message(session, "And sick leave?")
    make_message(session, "Sick leave is", role=Message.Role.ASSISTANT, status=Message.Status.STOPPED)
    return session


def test_export_as_markdown_is_a_readable_download(api, session):
    response = api.get(f"/api/sessions/{session.id}/export")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="leave-how-many-days.md"'
    text = response.content.decode()
    assert text.startswith("# Leave: how many days?\n")
    assert "4 messages" in text
    assert text.index("How many days of leave?") < text.index("Twenty-five days [1].") < text.index("And sick leave?")
    assert "**Assistant · gpt-test ·" in text
    assert "1. Handbook, p. 4: “Every employee has twenty-five days of paid leave.”" in text
    assert "Sick leave is\n\n*Stopped before it was complete.*" in text


def test_export_as_json_holds_every_message_as_the_api_shows_it(api, session):
    response = api.get(f"/api/sessions/{session.id}/export?as=json", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="leave-how-many-days.json"'
    body = json.loads(response.content)
    assert body["session"]["name"] == "Leave: how many days?" and body["session"]["id"] == str(session.id)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant"]
    assert body["messages"][1]["sources"] == [SOURCE]
    assert body["messages"][1]["feedback"]["comment"] == "Exactly"
    assert body["messages"][3]["status"] == "stopped"
    assert body["exported_at"]


def test_a_name_in_any_script_gives_a_file_name(api, user):
    session = make_session(user, "会议记录 / notes")
    disposition = api.get(f"/api/sessions/{session.id}/export")["Content-Disposition"]
    assert disposition == "attachment; filename*=utf-8''%E4%BC%9A%E8%AE%AE%E8%AE%B0%E5%BD%95-notes.md"
    assert api.get(f"/api/sessions/{make_session(user, '!!!').id}/export")["Content-Disposition"].endswith(
        'filename="chat.md"')


def test_unknown_export_type_is_400(api, session):
    response = api.get(f"/api/sessions/{session.id}/export?as=pdf")
    assert response.status_code == 400 and "as" in response.json()


def test_another_users_chat_cannot_be_exported(other_api, session):
    for kind in ("markdown", "json"):
        response = other_api.get(f"/api/sessions/{session.id}/export?as={kind}")
        assert response.status_code == 404 and b"leave" not in response.content.lower()
