"""Staff read the feedback on answers in the admin: listed, filtered, searched, exported as CSV."""

import csv
import io

import pytest

from sessions_app.models import Feedback, Message
from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db


def rated(owner, question, answer, rating, comment="", model="gpt-test"):
    session = make_session(owner, f"Chat about {question}")
    make_message(session, question)
    message = make_message(session, answer, role=Message.Role.ASSISTANT, model=model)
    return Feedback.objects.create(message=message, user=owner, rating=rating, comment=comment)


@pytest.fixture
def feedback(user, other_user):
    return [rated(user, "Vacation days?", "Twenty-five [1].", "up", "Spot on"),
            rated(other_user, "Parking?", "The knowledge base does not cover it.", "down", "We do have parking",
                  model="other-model")]


def test_feedback_is_listed_and_filtered_by_rating(client, staff_user, feedback):
    client.force_login(staff_user)
    page = client.get("/admin/sessions_app/feedback/").content.decode()
    assert "Spot on" in page and "We do have parking" in page and "Twenty-five [1]." in page
    down = client.get("/admin/sessions_app/feedback/?rating__exact=down").content.decode()
    assert "We do have parking" in down and "Spot on" not in down
    by_model = client.get("/admin/sessions_app/feedback/?message__model=other-model").content.decode()
    assert "We do have parking" in by_model and "Spot on" not in by_model
    by_user = client.get("/admin/sessions_app/feedback/?q=alice").content.decode()
    assert "Spot on" in by_user and "We do have parking" not in by_user


def test_feedback_exports_as_csv_with_question_and_answer(client, staff_user, feedback):
    client.force_login(staff_user)
    response = client.post("/admin/sessions_app/feedback/", {
        "action": "export_csv", "_selected_action": [f.pk for f in feedback]})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="ragchat-feedback-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {(r["user"], r["rating"], r["comment"], r["question"], r["answer"]) for r in rows} == {
        ("alice", "up", "Spot on", "Vacation days?", "Twenty-five [1]."),
        ("bob", "down", "We do have parking", "Parking?", "The knowledge base does not cover it.")}


def test_a_comment_that_looks_like_a_formula_stays_text_in_the_csv(client, staff_user, user):
    evil = rated(user, "=cmd|' /C calc'!A0", "ok", "down", '=HYPERLINK("http://evil.example","click")')
    client.force_login(staff_user)
    response = client.post("/admin/sessions_app/feedback/", {"action": "export_csv", "_selected_action": [evil.pk]})
    row = next(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert row["comment"].startswith("'=HYPERLINK") and row["question"].startswith("'=cmd")


def test_feedback_is_read_only_and_hidden_from_non_staff(client, staff_user, user, feedback):
    client.force_login(staff_user)
    assert client.get("/admin/sessions_app/feedback/add/").status_code == 403
    detail = client.get(f"/admin/sessions_app/feedback/{feedback[0].pk}/change/").content.decode()
    assert "Spot on" in detail and 'name="comment"' not in detail
    client.force_login(user)
    assert client.get("/admin/sessions_app/feedback/").status_code == 302  # to the admin login


def test_the_chat_page_in_the_admin_shows_each_answers_rating(client, staff_user, feedback):
    client.force_login(staff_user)
    session = feedback[0].message.session
    page = client.get(f"/admin/sessions_app/chatsession/{session.pk}/change/").content.decode()
    assert "up: Spot on" in page
