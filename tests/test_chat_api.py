"""POST /api/sessions/{id}/chat with the offline backend (the default here), and /api/config."""

import math

import pytest
from django.test import Client

from chat.offline import NOT_COVERED, OFFLINE_PREFIX
from sessions_app.models import ChatSession, Message
from tests.factories import PASSWORD, make_document, make_message, make_session

pytestmark = pytest.mark.usefixtures("fresh_index")

EIFFEL = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. "
          "It is 330 metres tall, about the same height as an 81-storey building. "
          "It was designed by the engineering company of Gustave Eiffel and completed in 1889.")
BAKING = ("Sourdough bread is leavened by a starter of wild yeast and lactic acid bacteria. "
          "Bake the loaf in a very hot oven for about forty minutes.")


@pytest.fixture
def knowledge(db):
    return [make_document(EIFFEL, title="Eiffel Tower"), make_document(BAKING, title="Sourdough")]


def chat(api, session, body):
    return api.post(f"/api/sessions/{session.id}/chat", body, format="json")


def test_offline_answer_cites_the_passage_that_contains_the_answer(api, user, knowledge, settings):
    settings.RAG_MIN_SCORE = 0.05
    session = make_session(user)
    response = chat(api, session, {"message": "When was the Eiffel Tower completed?"})
    assert response.status_code == 201, response.content
    answer = response.json()["assistant_message"]
    assert answer["content"].startswith(OFFLINE_PREFIX)
    assert answer["status"] == "complete" and answer["model"] == "offline-extractive"
    cited = {s["n"]: s for s in answer["sources"]}
    line = next(ln for ln in answer["content"].splitlines() if "1889" in ln)
    n = int(line.rsplit("[", 1)[1].rstrip("]"))
    assert cited[n]["document_title"] == "Eiffel Tower"
    assert "1889" in answer["content"].split("\n- ")[1]  # the best sentence comes first
    assert set(cited[n]) == {"n", "document_id", "document_title", "chunk_id", "score", "cosine", "snippet", "page"}


def test_both_messages_are_saved_and_returned(api, user, knowledge):
    session = make_session(user)
    response = chat(api, session, {"message": "  How tall is the Eiffel Tower?  "})
    body = response.json()
    assert body["user_message"]["role"] == "user"
    assert body["user_message"]["content"] == "How tall is the Eiffel Tower?"
    assert [m.role for m in session.messages.all()] == ["user", "assistant"]
    assert "330 metres" in body["assistant_message"]["content"]


def test_sources_are_numbered_from_one_in_rank_order(api, user, knowledge):
    response = chat(api, make_session(user), {"message": "Eiffel tower height in metres"})
    sources = response.json()["assistant_message"]["sources"]
    assert [s["n"] for s in sources] == list(range(1, len(sources) + 1))
    assert sources[0]["document_title"] == "Eiffel Tower"
    assert all(math.isfinite(s["score"]) and -1 <= s["cosine"] <= 1 for s in sources) and sources[0]["cosine"] > 0.1
    assert [s["score"] for s in sources] == sorted((s["score"] for s in sources), reverse=True)


def test_weak_matches_are_dropped_and_the_answer_says_it_is_not_covered(api, user, knowledge, settings):
    settings.RAG_MIN_SCORE = 0.2
    response = chat(api, make_session(user), {"message": "What is the airspeed of an unladen swallow?"})
    answer = response.json()["assistant_message"]
    assert answer["content"] == NOT_COVERED and answer["sources"] == []


def test_follow_up_question_keeps_the_topic_of_the_conversation(api, user, knowledge, settings):
    settings.RAG_MIN_SCORE = 0.05
    session = make_session(user)
    chat(api, session, {"message": "Tell me about the Eiffel Tower"})
    chat(api, session, {"message": "Tell me about sourdough"})
    chat(api, session, {"message": "And the Eiffel Tower?"})
    follow_up = chat(api, session, {"message": "Who designed it?"}).json()["assistant_message"]
    assert follow_up["sources"][0]["document_title"] == "Eiffel Tower"
    assert "Gustave Eiffel" in follow_up["content"]


def test_new_chat_is_named_from_its_first_message(api, user, knowledge):
    session = ChatSession.objects.create(owner=user)
    assert session.name == "New chat"
    chat(api, session, {"message": "How tall is the Eiffel Tower in Paris, compared with other buildings of its era?"})
    session.refresh_from_db()
    assert session.name.startswith("How tall is the Eiffel Tower") and len(session.name) <= 61
    chat(api, session, {"message": "Something else"})
    session.refresh_from_db()
    assert session.name.startswith("How tall")


def test_a_named_session_keeps_its_name(api, user, knowledge):
    session = make_session(user, name="Paris trip")
    chat(api, session, {"message": "Eiffel tower?"})
    session.refresh_from_db()
    assert session.name == "Paris trip"


@pytest.mark.parametrize("body", [
    {"message": ""}, {"message": "   \n\t "}, {"message": 42}, {"message": None}, {"message": ["a"]}, {},
    {"message": "hi", "stream": "yes"}, {"retry": "true"}, {"message": "hi", "retry": True},
])
def test_bad_input_is_400_and_saves_nothing(api, user, body):
    session = make_session(user)
    response = chat(api, session, body)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert not session.messages.exists()


def test_message_longer_than_the_limit_is_400(api, user, settings):
    session = make_session(user)
    assert chat(api, session, {"message": "x" * (settings.CHAT_MESSAGE_MAX_CHARS + 1)}).status_code == 400
    assert chat(api, session, {"message": "x" * settings.CHAT_MESSAGE_MAX_CHARS}).status_code == 201


def test_other_users_session_is_404(api, other_user):
    session = make_session(other_user)
    response = chat(api, session, {"message": "hello"})
    assert response.status_code == 404 and "detail" in response.json()
    assert not session.messages.exists()


def test_unknown_session_is_404(api, db):
    assert chat(api, ChatSession(id="00000000-0000-0000-0000-000000000000"), {"message": "hi"}).status_code == 404


def test_anonymous_is_refused(anon_api, user):
    response = chat(anon_api, make_session(user), {"message": "hi"})
    assert response.status_code in (401, 403)


def test_session_auth_needs_csrf(user, knowledge):
    session = make_session(user)
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get("/accounts/login/")
    browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD,
                                      "csrfmiddlewaretoken": login_page.cookies["csrftoken"].value})
    url = f"/api/sessions/{session.id}/chat"
    assert browser.post(url, {"message": "hi"}, content_type="application/json").status_code == 403
    assert not session.messages.exists()
    token = browser.cookies["csrftoken"].value
    response = browser.post(url, {"message": "hi"}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_trailing_slash_works(api, user):
    session = make_session(user)
    assert api.post(f"/api/sessions/{session.id}/chat/", {"message": "hi"}, format="json").status_code == 201


def test_retry_replaces_a_failed_answer_without_a_new_question(api, user, knowledge):
    session = make_session(user)
    question = make_message(session, "How tall is the Eiffel Tower?")
    make_message(session, "partial", role=Message.Role.ASSISTANT, status=Message.Status.FAILED, error="boom")
    response = chat(api, session, {"retry": True})
    assert response.status_code == 201
    assert response.json()["user_message"]["id"] == question.id
    messages = list(session.messages.all())
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert "330" in messages[1].content


def test_retry_answers_an_unanswered_question(api, user, knowledge):
    session = make_session(user)
    make_message(session, "Who designed the Eiffel Tower?")
    assert chat(api, session, {"retry": True}).status_code == 201
    assert session.messages.count() == 2


@pytest.mark.parametrize("history", [[], [("assistant", "complete")]])
def test_retry_with_no_question_to_retry_is_409(api, user, history):
    session = make_session(user)
    for role, status in history:
        make_message(session, "text", role=role, status=status)
    response = chat(api, session, {"retry": True})
    assert response.status_code == 409 and "retry" in response.json()["detail"]
    assert session.messages.count() == len(history)


def test_config_tells_the_ui_which_backends_answer(api, settings):
    settings.CHAT_BACKEND = "offline"
    body = api.get("/api/config").json()
    assert body["chat_backend"] == "offline" and body["chat_model"] == "offline-extractive"
    assert body["embedding_backend"] == "local" and body["embedding_model"] == "local-minilm-l6-v2-int8-w128"
    settings.CHAT_BACKEND, settings.OPENAI_CHAT_MODEL = "openai", "my-model"
    assert api.get("/api/config/").json()["chat_model"] == "my-model"


def test_offline_answer_pure_function_picks_sentences_with_the_question_words():
    from dataclasses import dataclass

    from chat.offline import extractive_answer

    @dataclass
    class Passage:
        text: str
        position: int = 0

    hits = [Passage("Bread needs flour. The oven must be hot."), Passage("The Seine flows through Paris. It is long.")]
    answer = extractive_answer("Which river flows through Paris?", hits)
    assert answer.text.splitlines()[2] == "- The Seine flows through Paris. [2]" and answer.used == [2]
    assert extractive_answer("quantum chromodynamics", hits).text == NOT_COVERED
    assert extractive_answer("anything", []).text == NOT_COVERED


def test_offline_answer_does_not_quote_headings():
    from dataclasses import dataclass

    from chat.offline import extractive_answer

    @dataclass
    class Passage:
        text: str
        position: int = 0

    answer = extractive_answer("espresso grind size", [Passage(
        "Espresso brewing notes\n\n# Espresso grind\n\nGrind size is the main espresso adjustment.")])
    assert answer.text.splitlines()[2:] == ["- Grind size is the main espresso adjustment. [1]"]


def test_a_chat_deleted_while_its_question_is_saved_is_404_not_500(api, user, monkeypatch):
    # Another request deletes the chat between the question's insert and the chat's update (seen on MariaDB
    # under load): the turn answers 404 like any vanished chat, and the question went with its chat.
    session = make_session(user)
    create = Message.objects.create

    def create_then_delete(**fields):
        message = create(**fields)
        ChatSession.objects.filter(pk=session.pk).delete()
        return message

    monkeypatch.setattr(Message.objects, "create", create_then_delete)
    assert chat(api, session, {"message": "Who built the tower?"}).status_code == 404
    assert not Message.objects.filter(session_id=session.pk).exists()


def test_renaming_a_chat_deleted_meanwhile_is_404_not_500(api, user, monkeypatch):
    from sessions_app.serializers import ChatSessionSerializer

    session = make_session(user)
    update = ChatSessionSerializer.update

    def delete_then_update(self, instance, validated_data):
        ChatSession.objects.filter(pk=instance.pk).delete()
        return update(self, instance, validated_data)

    monkeypatch.setattr(ChatSessionSerializer, "update", delete_then_update)
    assert api.patch(f"/api/sessions/{session.id}", {"name": "Renamed"}, format="json").status_code == 404
