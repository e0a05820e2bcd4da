"""Follow-up questions keep their context: with a model, "and the second one?" is rewritten before the search."""

import re

import pytest

from chat.followups import REWRITE_RULES, clean_query, needs_rewrite, rewrite_messages
from sessions_app.models import Message
from tests.factories import make_document, make_session

PRODUCTS = ["Aurora desk lamp", "Borealis space heater"]


# --- the rule and the prompt (pure) -------------------------------------------------------------
@pytest.mark.parametrize("question", [
    "And what about the second one?", "How tall is it?", "What do they cost?", "Tell me more",
    "What about Borealis?", "Why?", "and the price", "Is that covered by the warranty policy?",
    "Combien ça coûte ?",  # another language: rewritten when short
])
def test_questions_that_lean_on_the_conversation_are_rewritten(question):
    assert needs_rewrite(question, ["Which products do you sell?"])


@pytest.mark.parametrize("question", [
    "What is the warranty of the Borealis space heater?", "How do I request parental leave in Germany?",
    "Quelle est la garantie du radiateur Borealis ?",
])
def test_questions_that_stand_alone_are_not(question):
    assert not needs_rewrite(question, ["Which products do you sell?"])


def test_a_first_question_is_never_rewritten():
    assert not needs_rewrite("And what about it?", [])
    assert not needs_rewrite("And what about it?", ["  "])


def test_the_rewrite_prompt_holds_the_recent_conversation_and_the_question():
    history = [{"role": "user", "content": f"question {i}"} for i in range(10)]
    history[-1] = {"role": "assistant", "content": "We sell the Aurora desk lamp. " + "More words. " * 200}
    system, user = rewrite_messages("And the second one?", history)
    assert system == {"role": "system", "content": REWRITE_RULES}
    assert "question 3" not in user["content"] and "question 4" in user["content"]  # the last six messages
    assert "assistant: We sell the Aurora desk lamp." in user["content"]
    assert len(user["content"]) < 1200 * 6
    assert user["content"].endswith("Last question: And the second one?\n\nSearch query:")


@pytest.mark.parametrize("reply, query", [
    ("Borealis space heater warranty", "Borealis space heater warranty"),
    ('"Borealis space heater warranty"\n\nI replaced "the second one".', "Borealis space heater warranty"),
    ("Query: Borealis heater", "Borealis heater"),
    ("\n  «Borealis»  \n", "Borealis"),
    ("", ""), ("  \n ", ""), ('""', ""),
])
def test_the_query_is_taken_from_the_first_line_of_the_reply(reply, query):
    assert clean_query(reply) == query


# --- a conversation against the OpenAI-compatible test server -----------------------------------
def fake_model(body: dict) -> str:
    """Plays the model: rewrites a follow-up from the conversation the request carries, else answers."""
    system = body["messages"][0]["content"]
    if system != REWRITE_RULES:
        return "We sell the " + " and the ".join(PRODUCTS) + " [1]."
    request = body["messages"][1]["content"]
    conversation, question = request.split("\nLast question: ")
    named = sorted(PRODUCTS, key=lambda p: conversation.find(p) if p in conversation else 10**6)
    named = [p for p in named if p in conversation]
    which = 1 if re.search(r"\bsecond\b", question) else 0
    return f"{named[which]} warranty" if len(named) > which else question.split("\n")[0]


@pytest.fixture
def shop(openai_server, settings, db, fresh_index):
    openai_server.configure(settings, chat=True)
    openai_server.reply = fake_model
    settings.RAG_TOP_K = 1
    settings.RAG_MIN_SCORE = 0.0
    make_document("We sell two products: lamps and heaters, with free delivery.", title="Catalogue")
    make_document("The Aurora desk lamp has a warranty of two years, parts and labour.", title="Aurora lamp")
    make_document("The Borealis space heater has a warranty of five years on its heating element.",
                  title="Borealis heater")
    return openai_server


def ask(api, session, body):
    response = api.post(f"/api/sessions/{session.id}/chat", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def sources(reply) -> list[str]:
    return [s["document_title"] for s in reply["assistant_message"]["sources"]]


def rewrites(server) -> list[dict]:
    return [r for r in server.chat_requests() if r["messages"][0]["content"] == REWRITE_RULES]


def test_the_third_turn_retrieves_what_its_question_refers_to(api, user, shop):
    session = make_session(user)
    ask(api, session, {"message": "Which products do you sell?"})
    assert rewrites(shop) == []  # a first question stands alone: no extra call

    second = ask(api, session, {"message": "What is the warranty of the first one?"})
    assert sources(second) == ["Aurora lamp"]
    assert second["user_message"]["rewritten_query"] == "Aurora desk lamp warranty"

    third = ask(api, session, {"message": "And what about the second one?"})
    assert sources(third) == ["Borealis heater"]
    assert third["user_message"]["rewritten_query"] == "Borealis space heater warranty"
    # The rewrite saw the conversation: the earlier answer that named both products, and the question.
    request = rewrites(shop)[-1]["messages"][1]["content"]
    assert "assistant: We sell the Aurora desk lamp and the Borealis space heater" in request
    assert "Last question: And what about the second one?" in request
    # The answer's prompt asks the original question, with the passage the rewrite found as [1].
    answer_prompt = shop.chat_requests()[-1]["messages"]
    assert answer_prompt[-1] == {"role": "user", "content": "And what about the second one?"}
    assert "Borealis space heater has a warranty of five years" in answer_prompt[0]["content"]
    assert len(rewrites(shop)) == 2


def test_the_rewrite_is_kept_with_the_question_so_a_regenerate_does_not_pay_again(api, user, shop):
    session = make_session(user)
    ask(api, session, {"message": "Which products do you sell?"})
    first = ask(api, session, {"message": "And the second one?"})
    question = Message.objects.get(pk=first["user_message"]["id"])
    assert question.usage["prompt_tokens"] > 0 and question.usage["completion_tokens"] == 4  # the rewrite's cost
    calls = len(shop.chat_requests())
    regenerated = ask(api, session, {"retry": True})
    assert sources(regenerated) == ["Borealis heater"]
    assert len(shop.chat_requests()) == calls + 1 and len(rewrites(shop)) == 1  # the answer, no new rewrite
    question.refresh_from_db()  # the rewrite, plus the answer that was replaced
    assert question.usage["completion_tokens"] == 4 + first["assistant_message"]["usage"]["completion_tokens"]


def test_an_edited_follow_up_is_rewritten_anew(api, user, shop):
    session = make_session(user)
    ask(api, session, {"message": "Which products do you sell?"})
    question = ask(api, session, {"message": "And the second one?"})["user_message"]
    edited = ask(api, session, {"message": "And the first one?", "edit": question["id"]})
    assert edited["user_message"]["rewritten_query"] == "Aurora desk lamp warranty"
    assert sources(edited) == ["Aurora lamp"] and len(rewrites(shop)) == 2


def test_a_question_that_stands_alone_costs_no_rewrite(api, user, shop):
    session = make_session(user)
    ask(api, session, {"message": "Which products do you sell?"})
    reply = ask(api, session, {"message": "What is the warranty of the Borealis space heater?"})
    assert sources(reply) == ["Borealis heater"] and reply["user_message"]["rewritten_query"] == ""
    assert rewrites(shop) == []


@pytest.mark.parametrize("failure", ["status", "timeout"])
def test_a_failed_rewrite_falls_back_to_the_earlier_questions_instead_of_failing_the_turn(
        api, user, shop, settings, failure):
    session = make_session(user)
    ask(api, session, {"message": "Tell me about the Borealis space heater"})
    if failure == "status":
        shop.fail(500)  # the next request, the rewrite, fails; the answer after it does not
    else:
        settings.FOLLOW_UP_REWRITE_TIMEOUT = 0.3
        shop.slow(30)
    reply = ask(api, session, {"message": "What is its warranty?"})
    assert reply["assistant_message"]["status"] == "complete"
    assert reply["user_message"]["rewritten_query"] == ""
    assert sources(reply) == ["Borealis heater"]  # today's method: the earlier question keeps the topic
    assert len(rewrites(shop)) == 1


def test_rewriting_can_be_turned_off(api, user, shop, settings):
    settings.FOLLOW_UP_REWRITE = False
    session = make_session(user)
    ask(api, session, {"message": "Which products do you sell?"})
    ask(api, session, {"message": "And the second one?"})
    assert rewrites(shop) == []


def test_offline_answers_keep_todays_method(api, user, db, fresh_index, settings):
    settings.RAG_MIN_SCORE = 0.0
    make_document("The Borealis space heater has a warranty of five years.", title="Borealis heater")
    session = make_session(user)
    ask(api, session, {"message": "Tell me about the Borealis space heater"})
    reply = ask(api, session, {"message": "What is its warranty?"})
    assert reply["user_message"]["rewritten_query"] == "" and sources(reply)[0] == "Borealis heater"
