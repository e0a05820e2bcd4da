"""Chatting in a real browser: the streamed answer with citations, failures and retry, the offline banner."""

import pytest
from playwright.sync_api import expect

from knowledge.services import document_ingest
from sessions_app.models import ChatSession, Message
from tests.factories import run_queued
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import PHONE, open_app

pytestmark = pytest.mark.browser

HANDBOOK = (b"Employee handbook\n\nEvery employee has twenty-five days of paid leave per year. "
            b"Leave requests go to your manager at least two weeks ahead.\n")

# Records every state of the send button, so a test can tell it was disabled while the answer streamed.
WATCH_SEND = """() => {
    const send = document.getElementById("send");
    window.sendStates = [];
    new MutationObserver(() => window.sendStates.push(send.disabled))
        .observe(send, {attributes: true, attributeFilter: ["disabled"]});
}"""


def ask(page, question: str):
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")


def test_ask_a_question_and_see_the_streamed_answer_cite_the_uploaded_document(signed_in_page, browser_user,
                                                                               shots):
    page = open_app(signed_in_page)
    expect(page.locator("#offline-banner")).to_be_visible()  # no model configured in tests: offline
    page.get_by_role("button", name="Knowledge base", exact=True).click()
    page.locator("#file-input").set_input_files(
        [{"name": "handbook.txt", "mimeType": "text/plain", "buffer": HANDBOOK}])
    expect(page.locator(".upload-status")).to_have_text("Uploaded · processing in the background")
    run_queued()  # what the worker does
    expect(page.locator(".document .badge")).to_have_text("ready")
    page.keyboard.press("Escape")
    page.evaluate(WATCH_SEND)

    chat_requests = []
    page.on("request", lambda r: chat_requests.append(r) if r.url.endswith("/chat") else None)
    ask(page, "How many days of paid leave do I get?")

    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_contain_text("twenty-five days of paid leave")
    expect(answer.locator(".sources .source-title")).to_have_text(["handbook"])
    expect(page.locator(".message-user")).to_have_text(["How many days of paid leave do I get?"])
    expect(page.locator("#send")).to_be_enabled()
    shots(page, "answered")

    # The answer came as server-sent events, with the CSRF token, and the send button was off meanwhile.
    request = chat_requests[0]
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["x-csrftoken"]
    assert request.post_data_json == {"message": "How many days of paid leave do I get?", "stream": True}
    assert request.response().headers["content-type"].startswith("text/event-stream")
    states = page.evaluate("window.sendStates")
    assert states[0] is True and states[-1] is False and False not in states[:-1]

    # The [1] marker opens the document at its passage (tests/test_ui_reader.py); the source card opens the snippet.
    citation = answer.locator(".message-body a.cite").first
    expect(citation).to_have_text("[1]")
    citation.click()
    expect(page.get_by_role("dialog", name="handbook").locator("mark")).to_contain_text("twenty-five days")
    page.keyboard.press("Escape")
    snippet = answer.locator(".source .snippet").first
    expect(snippet).to_be_hidden()
    answer.locator(".source summary").first.click()
    expect(snippet).to_be_visible()
    expect(snippet).to_contain_text("twenty-five days")
    shots(page, "source-open")

    # The new chat is in the URL and in the sidebar, named from its first message.
    session = ChatSession.objects.get(owner=browser_user)
    expect(page).to_have_url(f"/c/{session.id}")
    expect(page.locator('.session-link[aria-current="page"]')).to_contain_text("How many days of paid leave")
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(page.locator(".message-assistant .source-title")).to_have_text(["handbook"])


def test_enter_sends_and_shift_enter_adds_a_line(signed_in_page, browser_user):
    page = open_app(signed_in_page)
    box = page.get_by_role("textbox", name="Message")
    height = box.bounding_box()["height"]
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    assert box.bounding_box()["height"] > height  # the box grew with its text
    assert not ChatSession.objects.exists()
    box.press("Enter")
    expect(page.locator(".message-user")).to_have_text(["first line\nsecond line"])
    expect(page.locator(".message-assistant .message-body")).not_to_be_empty()
    expect(box).to_have_value("")
    assert Message.objects.filter(role="user").get().content == "first line\nsecond line"


def test_a_failed_answer_shows_the_error_and_retry_answers_once_the_provider_is_back(
        signed_in_page, browser_user, openai_server, settings, shots):
    openai_server.configure(settings, chat=True)
    openai_server.reply = "You get twenty-five days [1]."
    openai_server.fail(500, message="The model is down")
    document_ingest(data=HANDBOOK, filename="handbook.txt", user=browser_user)
    page = open_app(signed_in_page)
    expect(page.locator("#offline-banner")).to_be_hidden()

    ask(page, "How much leave do I get?")
    error = page.locator(".message-assistant .message-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("error (500)")
    shots(page, "failed")
    assert Message.objects.filter(role="assistant", status="failed").count() == 1

    error.get_by_role("button", name="Retry").click()
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_have_text("You get twenty-five days [1].")
    expect(answer.locator(".message-error")).to_have_count(0)
    expect(answer.locator(".source-title")).to_have_text(["handbook"])
    expect(page.locator(".message-user")).to_have_count(1)
    shots(page, "retried")
    assert openai_server.chat_requests()[-1]["stream"] is True
    assert Message.objects.filter(role="user").count() == 1
    assert list(Message.objects.filter(role="assistant").values_list("status", flat=True)) == ["complete"]

    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(page.locator(".message")).to_have_count(2)
    expect(page.locator(".message-error")).to_have_count(0)


def test_a_stream_cut_midway_keeps_the_partial_answer_and_can_be_retried(
        signed_in_page, browser_user, openai_server, settings):
    openai_server.configure(settings, chat=True)
    openai_server.reply = "Leave is twenty-five days a year, requested two weeks ahead."
    openai_server.cut_stream(after_tokens=3)
    page = open_app(signed_in_page)
    ask(page, "Tell me about leave")
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-error")).to_be_visible()
    partial = answer.locator(".message-body").text_content()
    assert partial and "Leave" in partial and "ahead" not in partial

    answer.get_by_role("button", name="Retry").click()
    expect(answer.locator(".message-body")).to_have_text(openai_server.reply)
    expect(page.locator(".message-user")).to_have_count(1)
    assert Message.objects.filter(role="user").count() == 1


def test_a_failed_answer_in_history_offers_retry_after_reload(signed_in_page, browser_user, openai_server,
                                                               settings):
    openai_server.configure(settings, chat=True)
    openai_server.fail(503)
    page = open_app(signed_in_page)
    ask(page, "Anyone there?")
    expect(page.locator(".message-error")).to_be_visible()
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".message-assistant .message-body")).to_have_text(openai_server.reply)
    assert Message.objects.filter(role="user").count() == 1


def test_an_answer_with_sources_fits_a_phone_screen(new_page, browser_user, openai_server, settings, shots):
    openai_server.configure(settings, chat=True)
    openai_server.reply = ("Run `make test` [1]. A long line:\n\n```\n" + "x" * 300 + "\n```\n\n"
                           "See https://example.com/" + "a" * 120)
    document_ingest(text="Run make test for the whole suite. " + "word " * 200, title="Guide " + "long " * 30,
                    user=browser_user)
    page = open_app(new_page(viewport=PHONE, user=browser_user))
    ask(page, "How do I run the tests?")
    expect(page.locator(".message-assistant .sources")).to_be_visible()
    shots(page, "phone-answer")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.getElementById('messages').scrollWidth]")
    assert max(widths) <= PHONE["width"]


# The page's fetch() of the chat endpoint answers a stream that the test feeds one event at a time, so it
# can look at the page between tokens. (The real endpoint's stream is what the other tests use.)
HELD_STREAM = """() => {
    const realFetch = window.fetch;
    window.fetch = (url, init) => {
        if (!String(url).endsWith("/chat")) return realFetch(url, init);
        const body = new ReadableStream({ start(controller) {
            window.heldStream = controller;
            document.documentElement.dataset.held = "true";
        } });
        return Promise.resolve(new Response(body, {headers: {"Content-Type": "text/event-stream"}}));
    };
    window.sendEvent = (event, data) => window.heldStream.enqueue(
        new TextEncoder().encode(`event: ${event}\\ndata: ${JSON.stringify(data)}\\n\\n`));
}"""


def test_the_answer_is_drawn_token_by_token_while_send_is_disabled(signed_in_page, shots):
    page = open_app(signed_in_page)
    page.evaluate(HELD_STREAM)
    ask(page, "How much leave?")
    page.wait_for_selector("html[data-held]")  # (not wait_for_function: its string would break the page's CSP)
    body = page.locator(".message-assistant .message-body")
    expect(page.locator(".message-assistant.streaming")).to_be_visible()
    expect(page.locator("#send")).to_be_disabled()

    page.evaluate("sendEvent('token', {delta: 'Twenty'})")
    expect(body).to_have_text("Twenty")
    page.evaluate("sendEvent('token', {delta: '-five **days'})")
    expect(body).to_have_text("Twenty-five **days")
    page.evaluate("sendEvent('token', {delta: '** a year [1].'})")
    expect(body.locator("strong")).to_have_text("days")
    expect(page.locator("#send")).to_be_disabled()
    shots(page, "streaming")

    page.evaluate("""sendEvent('done', {
        user_message: {id: 1, role: 'user', content: 'How much leave?', status: 'complete', sources: []},
        assistant_message: {id: 2, role: 'assistant', content: 'Twenty-five **days** a year [1].',
                            status: 'complete', model: 'test-model',
                            sources: [{n: 1, document_id: 1, document_title: 'Handbook', chunk_id: 1,
                                       score: 0.9, snippet: 'Twenty-five days of paid leave.', page: null}]}});
        heldStream.close()""")
    expect(body.locator("a.cite")).to_have_text(["[1]"])
    expect(page.locator(".message-assistant .source-title")).to_have_text(["Handbook"])
    expect(page.locator(".message-assistant.streaming")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#live-status")).to_have_text("Answer ready.")
