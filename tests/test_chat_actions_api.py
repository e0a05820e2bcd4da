"""Chat actions through the API: stop a streaming answer, regenerate the last answer, edit the last question."""

import json
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection

from chat import stopping
from sessions_app.models import Feedback, Message
from tests.factories import make_document, make_message, make_session

pytestmark = pytest.mark.usefixtures("fresh_index")

EIFFEL = ("The Eiffel Tower is a wrought-iron lattice tower in Paris. It is 330 metres tall. "
          "It was completed in 1889 for the World's Fair.")


@pytest.fixture
def eiffel(db):
    return make_document(EIFFEL, title="Eiffel Tower")


@pytest.fixture
def look_at_every_token(monkeypatch):
    """The stream looks for a stop between any two tokens (not at most every 0.2 s), so tests need no timing."""
    monkeypatch.setattr(stopping, "CHECK_EVERY", 0)


def chat(api, session, body, **extra):
    return api.post(f"/api/sessions/{session.id}/chat", body, format="json", **extra)


def parse(chunks) -> list[tuple[str, dict]]:
    events = []
    for block in b"".join(chunks).decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def open_stream(api, session, body):
    response = chat(api, session, {**body, "stream": True})
    assert response.status_code == 200, response.content
    return response, iter(response.streaming_content)


# --- stop ---------------------------------------------------------------------------------------
def test_stop_ends_the_stream_with_a_stopped_answer_that_keeps_its_text(api, user, eiffel, look_at_every_token):
    session = make_session(user)
    response, chunks = open_stream(api, session, {"message": "How tall is the Eiffel Tower?"})
    received = [next(chunks), next(chunks)]
    assert api.post(f"/api/sessions/{session.id}/stop").status_code == 204
    events = parse(received + list(chunks))
    assert [kind for kind, _ in events] == ["token", "token", "done"]
    shown = events[0][1]["delta"] + events[1][1]["delta"]
    stopped = events[-1][1]["assistant_message"]
    assert stopped["status"] == "stopped" and stopped["content"] == shown and stopped["error"] == ""
    saved = session.messages.get(role=Message.Role.ASSISTANT)
    assert saved.status == Message.Status.STOPPED and saved.content == shown


@pytest.mark.django_db(transaction=True)
def test_a_client_that_stops_then_drops_the_stream_leaves_a_stopped_answer_not_a_failed_one(
        api, user, eiffel, look_at_every_token):
    session = make_session(user)
    response, chunks = open_stream(api, session, {"message": "How tall is the Eiffel Tower?"})
    shown = parse([next(chunks)])[0][1]["delta"]
    assert api.post(f"/api/sessions/{session.id}/stop").status_code == 204
    response.close()  # the browser aborts its fetch right after asking to stop
    saved = session.messages.get(role=Message.Role.ASSISTANT)
    assert saved.status == Message.Status.STOPPED and saved.error == "" and saved.content == shown


@pytest.mark.django_db(transaction=True)
def test_a_stop_the_streaming_process_cannot_see_in_its_cache_still_ends_stopped_when_the_client_drops(
        api, user, eiffel, look_at_every_token):
    session = make_session(user)
    response, chunks = open_stream(api, session, {"message": "How tall is the Eiffel Tower?"})
    shown = parse([next(chunks)])[0][1]["delta"]
    assert api.post(f"/api/sessions/{session.id}/stop").status_code == 204
    cache.delete(stopping._key(session.id))  # as if it had landed in another process, with a cache of its own
    response.close()
    saved = session.messages.get(role=Message.Role.ASSISTANT)
    assert saved.status == Message.Status.STOPPED and saved.error == "" and saved.content == shown


def test_a_stop_asked_before_the_turn_began_does_not_stop_it(api, user, eiffel, look_at_every_token):
    session = make_session(user)
    assert api.post(f"/api/sessions/{session.id}/stop/").status_code == 204  # nothing streams: harmless
    response, chunks = open_stream(api, session, {"message": "How tall is the Eiffel Tower?"})
    events = parse(list(chunks))
    assert events[-1][0] == "done" and events[-1][1]["assistant_message"]["status"] == "complete"
    assert "330 metres" in events[-1][1]["assistant_message"]["content"]


def test_another_user_cannot_stop_my_answer(api, other_api, user, eiffel, look_at_every_token):
    session = make_session(user)
    response, chunks = open_stream(api, session, {"message": "How tall is the Eiffel Tower?"})
    first = next(chunks)
    assert other_api.post(f"/api/sessions/{session.id}/stop").status_code == 404
    events = parse([first, *chunks])
    assert events[-1][1]["assistant_message"]["status"] == "complete"


def test_stop_needs_a_signed_in_owner(anon_api, user):
    session = make_session(user)
    assert anon_api.post(f"/api/sessions/{session.id}/stop").status_code in (401, 403)
    assert anon_api.get(f"/api/sessions/{session.id}/stop").status_code in (401, 403, 405)


@pytest.mark.django_db(transaction=True)
def test_a_stop_from_another_server_process_reaches_the_stream(api, user, eiffel, look_at_every_token, settings,
                                                               tmp_path):
    # Production runs several processes: the stop request may land in another one than the stream. With a
    # cache they share (here Django's file cache), a stop written by a separate Python process is seen.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}
    session = make_session(user)
    response, chunks = open_stream(api, session, {"message": "How tall is the Eiffel Tower?"})
    received = [next(chunks)]
    database = {key: connection.settings_dict[key] for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST",
                                                                "PORT", "OPTIONS")}
    other_process = (
        "import ragchat.settings as s, django;"
        f"s.CACHES = {settings.CACHES!r};"
        f"s.DATABASES = {{'default': {database!r}}};"
        "django.setup();"
        "from chat.stopping import request_stop;"
        f"request_stop({str(session.id)!r})"
    )
    subprocess.run([sys.executable, "-c", other_process], check=True, cwd=django_settings.BASE_DIR, timeout=60,
                   env={"DJANGO_SETTINGS_MODULE": "ragchat.settings", "PATH": "",
                        "SECRET_KEY": secrets.token_urlsafe(50)})  # CI's checkout has no .env
    events = parse(received + list(chunks))
    assert events[-1][0] == "done" and events[-1][1]["assistant_message"]["status"] == "stopped"
    session.refresh_from_db()
    assert session.stop_requested_at is not None  # and the database has it too


# --- regenerate ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [Message.Status.COMPLETE, Message.Status.STOPPED, Message.Status.FAILED])
def test_retry_regenerates_the_last_answer_in_place_of_the_old_one(api, user, eiffel, status):
    session = make_session(user)
    question = make_message(session, "How tall is the Eiffel Tower?")
    old = make_message(session, "An old answer.", role=Message.Role.ASSISTANT, status=status,
                       usage={"prompt_tokens": 100, "completion_tokens": 20})
    Feedback.objects.create(message=old, user=user, rating=Feedback.Rating.DOWN)
    response = chat(api, session, {"retry": True})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user_message"]["id"] == question.id
    assert "330 metres" in body["assistant_message"]["content"] and body["assistant_message"]["id"] != old.id
    assert [(m.role, m.status) for m in session.messages.all()] == [("user", "complete"), ("assistant", "complete")]
    assert not Message.objects.filter(id=old.id).exists() and not Feedback.objects.exists()
    question.refresh_from_db()  # what the replaced answer cost still counts, on its question
    assert question.usage == {"prompt_tokens": 100, "completion_tokens": 20}


def test_a_regenerated_answer_replaces_the_old_one_only_once_it_is_saved(api, user, eiffel):
    session = make_session(user)
    make_message(session, "How tall is the Eiffel Tower?")
    old = make_message(session, "An old answer.", role=Message.Role.ASSISTANT)
    response, chunks = open_stream(api, session, {"retry": True})
    received = [next(chunks)]
    assert Message.objects.filter(id=old.id).exists()  # while the new one streams, the old one is still there
    events = parse(received + list(chunks))
    assert events[-1][0] == "done"
    assert list(session.messages.values_list("role", flat=True)) == ["user", "assistant"]
    assert not Message.objects.filter(id=old.id).exists()


def test_regenerating_only_the_last_answer_leaves_earlier_turns_alone(api, user, eiffel):
    session = make_session(user)
    first_q = make_message(session, "Where is the Eiffel Tower?")
    first_a = make_message(session, "In Paris.", role=Message.Role.ASSISTANT)
    make_message(session, "How tall is it?")
    make_message(session, "Tall.", role=Message.Role.ASSISTANT)
    assert chat(api, session, {"retry": True}).status_code == 201
    messages = list(session.messages.all())
    assert [m.id for m in messages[:2]] == [first_q.id, first_a.id]
    assert [m.content for m in messages[:3]] == ["Where is the Eiffel Tower?", "In Paris.", "How tall is it?"]
    assert len(messages) == 4 and messages[3].content != "Tall."


def test_another_users_chat_cannot_be_regenerated(api, other_user):
    theirs = make_session(other_user)
    make_message(theirs, "secret question")
    answer = make_message(theirs, "secret answer", role=Message.Role.ASSISTANT)
    assert chat(api, theirs, {"retry": True}).status_code == 404
    assert Message.objects.filter(id=answer.id).exists()


# --- edit ---------------------------------------------------------------------------------------
def test_editing_the_last_question_rewords_it_and_replaces_its_answer(api, user, eiffel):
    session = make_session(user)
    make_message(session, "Hello")
    make_message(session, "Hi.", role=Message.Role.ASSISTANT)
    question = make_message(session, "When was it built?", rewritten_query="Eiffel Tower construction date")
    old = make_message(session, "Some answer.", role=Message.Role.ASSISTANT)
    response = chat(api, session, {"message": "How tall is the Eiffel Tower?", "edit": question.id})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user_message"]["id"] == question.id
    assert body["user_message"]["content"] == "How tall is the Eiffel Tower?"
    assert "330 metres" in body["assistant_message"]["content"]
    assert [m.content for m in session.messages.all()][:3] == ["Hello", "Hi.", "How tall is the Eiffel Tower?"]
    assert session.messages.count() == 4 and not Message.objects.filter(id=old.id).exists()
    question.refresh_from_db()
    assert question.rewritten_query == ""  # the old wording's search query is not reused


def test_an_edited_question_streams_like_any_other(api, user, eiffel):
    session = make_session(user)
    question = make_message(session, "Tell me about Paris")
    response, chunks = open_stream(api, session, {"message": "How tall is the Eiffel Tower?", "edit": question.id})
    done = parse(list(chunks))[-1][1]
    assert done["user_message"]["content"] == "How tall is the Eiffel Tower?"
    assert [m.role for m in session.messages.all()] == ["user", "assistant"]


def test_only_the_last_question_can_be_edited(api, user):
    session = make_session(user)
    earlier = make_message(session, "First question")
    make_message(session, "First answer", role=Message.Role.ASSISTANT)
    make_message(session, "Second question")
    response = chat(api, session, {"message": "Changed", "edit": earlier.id})
    assert response.status_code == 409 and "last question" in response.json()["detail"]
    earlier.refresh_from_db()
    assert earlier.content == "First question" and session.messages.count() == 3


def test_editing_a_message_of_another_chat_or_user_or_an_answer_is_404(api, user, other_user):
    session = make_session(user)
    mine = make_message(session, "Mine")
    answer = make_message(session, "An answer", role=Message.Role.ASSISTANT)
    elsewhere = make_message(make_session(user), "In my other chat")
    theirs = make_message(make_session(other_user), "Bob's question")
    for message in (elsewhere, theirs, answer):
        response = chat(api, session, {"message": "Changed", "edit": message.id})
        assert response.status_code == 404, message.content
    assert chat(api, session, {"message": "Changed", "edit": 10**17}).status_code == 404
    for message in (mine, elsewhere, theirs, answer):
        content = message.content
        message.refresh_from_db()
        assert message.content == content


LAST = object()  # stands for the id of the chat's last question


@pytest.mark.parametrize("body", [
    {"edit": LAST}, {"edit": LAST, "retry": True}, {"message": "x", "edit": "one"}, {"message": "x", "edit": 0},
    {"message": "x", "edit": 2**70}, {"message": "x", "edit": True}, {"message": "x", "edit": None},
    {"message": "x", "edit": 1.5},
])
def test_bad_edits_are_400_and_change_nothing(api, user, body):
    session = make_session(user)
    question = make_message(session, "Original")
    body = {k: (question.id if v is LAST else v) for k, v in body.items()}
    response = chat(api, session, body)
    assert response.status_code == 400, (body, response.content)
    question.refresh_from_db()
    assert question.content == "Original" and session.messages.count() == 1
