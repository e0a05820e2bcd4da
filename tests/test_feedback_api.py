"""Rating answers up or down, with an optional comment: one rating per user and answer, changeable, private."""

import pytest

from sessions_app.models import Feedback, Message
from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def answer(user):
    session = make_session(user)
    make_message(session, "How many vacation days?")
    return make_message(session, "Twenty-five [1].", role=Message.Role.ASSISTANT)


def rate(api, message, body):
    return api.put(f"/api/messages/{message.id}/feedback", body, format="json")


def test_rate_an_answer_up_and_see_it_with_the_messages(api, user, answer):
    response = rate(api, answer, {"rating": "up"})
    assert response.status_code == 200, response.content
    assert response.json()["rating"] == "up" and response.json()["comment"] == ""
    messages = api.get(f"/api/sessions/{answer.session_id}/messages").json()["results"]
    assert messages[0]["feedback"] is None
    assert messages[1]["feedback"]["rating"] == "up"


def test_change_a_rating_and_add_a_comment_keeps_one_rating(api, user, answer):
    rate(api, answer, {"rating": "up"})
    response = rate(api, answer, {"rating": "down", "comment": "  It cited the wrong policy.  "})
    assert response.status_code == 200
    feedback = Feedback.objects.get()
    assert (feedback.rating, feedback.comment, feedback.user) == ("down", "It cited the wrong policy.", user)


def test_take_a_rating_back(api, answer):
    rate(api, answer, {"rating": "down"})
    assert api.delete(f"/api/messages/{answer.id}/feedback/").status_code == 204
    assert not Feedback.objects.exists()
    assert api.delete(f"/api/messages/{answer.id}/feedback").status_code == 204  # already gone: same answer


def test_questions_cannot_be_rated_they_have_no_feedback_resource(api, user, answer):
    question = answer.session.messages.get(role=Message.Role.USER)
    assert rate(api, question, {"rating": "up"}).status_code == 404
    assert api.delete(f"/api/messages/{question.pk}/feedback").status_code == 404
    assert not Feedback.objects.exists()


def test_another_users_answer_is_404_to_rate_or_unrate(other_api, other_user, user, answer):
    Feedback.objects.create(message=answer, user=user, rating="up")
    assert rate(other_api, answer, {"rating": "down"}).status_code == 404
    assert other_api.delete(f"/api/messages/{answer.id}/feedback").status_code == 404
    assert list(Feedback.objects.values_list("user__username", "rating")) == [("alice", "up")]


@pytest.mark.parametrize("path", ["/api/messages/999999/feedback", "/api/messages/abc/feedback",
                                  "/api/messages/99999999999999999999999999/feedback"])
def test_unknown_or_malformed_message_is_404(api, path):
    assert api.put(path, {"rating": "up"}, format="json").status_code == 404


@pytest.mark.parametrize("body", [
    {}, {"rating": "meh"}, {"rating": 1}, {"rating": None}, {"rating": "up", "comment": 5},
    {"rating": "up", "comment": "x" * 2001}, {"rating": "up", "comment": "nul\x00byte"},
])
def test_bad_feedback_is_400_and_changes_nothing(api, answer, body):
    Feedback.objects.create(message=answer, user=answer.session.owner, rating="up", comment="kept")
    response = rate(api, answer, body)
    assert response.status_code == 400, body
    assert list(Feedback.objects.values_list("rating", "comment")) == [("up", "kept")]


def test_anonymous_cannot_rate(anon_api, answer):
    assert rate(anon_api, answer, {"rating": "up"}).status_code in (401, 403)
    assert not Feedback.objects.exists()
