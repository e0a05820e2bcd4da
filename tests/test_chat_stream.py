"""Streamed chat answers as server-sent events: tokens, then done or error; partial answers are kept."""

import json

import pytest
from django.test import Client

from sessions_app.models import Message
from tests.factories import PASSWORD, make_document, make_session

pytestmark = pytest.mark.usefixtures("fresh_index")

EIFFEL = ("The Eiffel Tower is a wrought-iron lattice tower in Paris. It is 330 metres tall. "
          "It was completed in 1889 for the World's Fair.")


def parse(body: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def stream(api, session, body, **extra):
    response = api.post(f"/api/sessions/{session.id}/chat", body, format="json", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    return response


@pytest.fixture
def eiffel(db):
    return make_document(EIFFEL, title="Eiffel Tower")


@pytest.mark.parametrize("how", [{"body": {"stream": True}}, {"headers": {"HTTP_ACCEPT": "text/event-stream"}}])
def test_offline_answer_streams_tokens_then_done(api, user, eiffel, how):
    session = make_session(user)
    response = stream(api, session, {"message": "How tall is the Eiffel Tower?", **how.get("body", {})},
                      **how.get("headers", {}))
    events = parse(b"".join(response.streaming_content))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"token"} and len(kinds) > 3
    done = events[-1][1]
    assert "".join(data["delta"] for kind, data in events if kind == "token") == done["assistant_message"]["content"]
    assert "330 metres" in done["assistant_message"]["content"]
    assert done["assistant_message"]["sources"][0]["document_title"] == "Eiffel Tower"
    assert done["user_message"]["content"] == "How tall is the Eiffel Tower?"
    saved = session.messages.get(role=Message.Role.ASSISTANT)
    assert saved.status == Message.Status.COMPLETE and saved.content == done["assistant_message"]["content"]


@pytest.mark.django_db(transaction=True)
def test_client_that_disconnects_mid_stream_leaves_the_partial_answer_saved(api, user, eiffel):
    session = make_session(user)
    response = stream(api, session, {"message": "How tall is the Eiffel Tower?", "stream": True})
    chunks = iter(response.streaming_content)
    received = [next(chunks), next(chunks)]
    response.close()  # what the WSGI server does when the client goes away (it also closes DB connections)
    saved = session.messages.get(role=Message.Role.ASSISTANT)
    assert saved.status == Message.Status.FAILED and "disconnected" in saved.error
    deltas = "".join(data["delta"] for _, data in parse(b"".join(received)))
    assert saved.content == deltas and deltas


def test_stream_with_session_auth_and_csrf(user, eiffel):
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get("/accounts/login/")
    browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD,
                                      "csrfmiddlewaretoken": login_page.cookies["csrftoken"].value})
    session = make_session(user)
    url = f"/api/sessions/{session.id}/chat"
    response = browser.post(url, {"message": "Eiffel?", "stream": True}, content_type="application/json",
                            HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)
    assert parse(b"".join(response.streaming_content))[-1][0] == "done"


def test_validation_errors_are_json_even_when_asking_for_a_stream(api, user):
    session = make_session(user)
    response = api.post(f"/api/sessions/{session.id}/chat", {"message": " "}, format="json",
                        HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


def test_an_unexpected_failure_mid_stream_ends_with_an_error_event_and_a_saved_answer(api, user, eiffel, monkeypatch):
    from chat import llm

    def broken_stream(self):
        yield "Partial "
        raise RuntimeError("a bug")

    monkeypatch.setattr(llm._WordStream, "__iter__", broken_stream)
    session = make_session(user)
    response = stream(api, session, {"message": "How tall is the Eiffel Tower?", "stream": True})
    events = parse(b"".join(response.streaming_content))
    assert [kind for kind, _ in events] == ["token", "error"]
    assert "internal error" in events[-1][1]["detail"] and "a bug" not in events[-1][1]["detail"]
    saved = session.messages.get(role=Message.Role.ASSISTANT)
    assert saved.status == Message.Status.FAILED and saved.content == "Partial "
