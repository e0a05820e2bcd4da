"""Chat actions in a real browser: stop a streaming answer, regenerate it, edit the last question, copy, rate."""

import time

import pytest
from playwright.sync_api import expect

from chat import stopping
from knowledge.services import document_ingest
from sessions_app.models import Feedback, Message
from tests.factories import make_message, make_session
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import PHONE, open_app

pytestmark = pytest.mark.browser

HANDBOOK = ("Employee handbook\n\nEvery employee has twenty-five days of paid leave per year. "
            "Leave requests go to your manager at least two weeks ahead.")
REPLY = "Leave is twenty-five days a year, requested two weeks ahead [1]."


def ask(page, question: str):
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")


def wait_for(condition, timeout: float = 15.0):
    """Waits until the database shows what the page has asked the server for (polling state, not sleeping)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the server never reached the expected state"
        time.sleep(0.02)


@pytest.fixture
def model(openai_server, settings, browser_user, monkeypatch):
    """A configured model (the test server) and a handbook to cite; stops are looked for at every token."""
    openai_server.configure(settings, chat=True)
    openai_server.reply = REPLY
    monkeypatch.setattr(stopping, "CHECK_EVERY", 0)
    document_ingest(text=HANDBOOK, title="Handbook", user=browser_user)
    return openai_server


def test_stop_keeps_the_partial_answer_marked_stopped_and_regenerate_replaces_it(signed_in_page, model, shots):
    model.hold_stream(after_tokens=3)  # the model pauses after "Leave is twenty-five "
    page = open_app(signed_in_page)
    ask(page, "How much leave do I get?")
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_have_text("Leave is twenty-five")
    stop = page.get_by_role("button", name="Stop answering")
    expect(stop).to_be_visible()
    expect(page.locator("#send")).to_be_hidden()
    shots(page, "streaming")

    with page.expect_response(lambda r: r.url.endswith("/stop")) as stop_request:
        stop.click()
    assert stop_request.value.status == 204
    model.release()  # the model speaks again: the stream notices the stop before passing it on
    expect(answer.locator(".stopped-badge")).to_have_text("Stopped")
    expect(answer.locator(".message-body")).to_have_text("Leave is twenty-five")
    expect(answer.locator(".message-error")).to_have_count(0)  # stopped is not failed
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Answer stopped.")
    shots(page, "stopped")
    saved = Message.objects.get(role="assistant")
    assert saved.status == Message.Status.STOPPED and saved.content == "Leave is twenty-five " and not saved.error

    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(answer.locator(".stopped-badge")).to_be_visible()
    answer.get_by_role("button", name="Regenerate answer").click()
    expect(answer.locator(".message-body")).to_have_text(REPLY)
    expect(page.locator("#live-status")).to_have_text("Answer ready.")  # the stream has ended: all is saved
    expect(answer.locator(".stopped-badge")).to_have_count(0)
    expect(page.locator(".message-user")).to_have_count(1)
    assert list(Message.objects.values_list("role", "status")) == [("user", "complete"), ("assistant", "complete")]


def test_escape_stops_and_a_stalled_model_does_not_keep_the_page_waiting(signed_in_page, model):
    model.hold_stream(after_tokens=2)
    page = open_app(signed_in_page)
    ask(page, "How much leave do I get?")
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_have_text("Leave is")
    page.get_by_role("textbox", name="Message").press("Escape")
    # The model stays silent, so the server cannot end the stream: the page drops it and keeps the text.
    expect(answer.locator(".stopped-badge")).to_be_visible()
    expect(answer.locator(".message-body")).to_have_text("Leave is")
    expect(page.locator("#send")).to_be_enabled()
    model.release()
    wait_for(lambda: Message.objects.filter(role="assistant").exists())
    saved = Message.objects.get(role="assistant")
    assert saved.status == Message.Status.STOPPED and saved.content == "Leave is "


def test_regenerate_replaces_the_last_answer_without_repeating_the_question(signed_in_page, model, browser_user):
    answers = iter(["First answer [1].", "Second answer [1]."])
    model.reply = lambda body: next(answers)
    page = open_app(signed_in_page)
    ask(page, "How much leave do I get?")
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_have_text("First answer [1].")
    # The text shows as its tokens arrive; the saved answer's id only with the stream's `done` event.
    expect(answer).to_have_attribute("data-status", "complete")
    first_id = answer.get_attribute("data-id")
    assert first_id
    answer.get_by_role("button", name="Regenerate answer").click()
    expect(answer.locator(".message-body")).to_have_text("Second answer [1].")
    expect(answer).not_to_have_attribute("data-id", first_id)
    expect(page.locator(".message")).to_have_count(2)
    assert [m.content for m in Message.objects.all()] == ["How much leave do I get?", "Second answer [1]."]


def test_only_the_last_turn_offers_regenerate_and_edit(signed_in_page, browser_user):
    session = make_session(browser_user, "Two turns")
    for n in (1, 2):
        make_message(session, f"Question {n}")
        make_message(session, f"Answer {n}", role=Message.Role.ASSISTANT)
    page = open_app(signed_in_page, f"/c/{session.id}")
    expect(page.get_by_role("button", name="Regenerate answer")).to_have_count(1)
    expect(page.locator(".message-assistant").last.get_by_role("button", name="Regenerate answer")).to_be_visible()
    expect(page.get_by_role("button", name="Edit question")).to_have_count(1)
    assert page.locator(".message-user").last.get_by_role("button", name="Edit question").count() == 1
    expect(page.get_by_role("button", name="Copy answer")).to_have_count(2)


def test_edit_the_last_question_and_resend_replaces_its_answer(signed_in_page, model, shots):
    model.reply = lambda body: f"About: {body['messages'][-1]['content']}"
    page = open_app(signed_in_page)
    ask(page, "How much leave do I get?")
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_have_text("About: How much leave do I get?")

    question = page.locator(".message-user")
    question.hover()
    question.get_by_role("button", name="Edit question").click()
    field = page.get_by_role("textbox", name="Edit your question")
    expect(field).to_be_focused()
    expect(field).to_have_value("How much leave do I get?")
    field.fill("Who approves leave?")
    shots(page, "editing")
    field.press("Escape")  # cancel keeps the question as it was
    expect(question.locator(".message-body")).to_have_text("How much leave do I get?")

    question.hover()
    question.get_by_role("button", name="Edit question").click()
    page.get_by_role("textbox", name="Edit your question").fill("Who approves leave?")
    page.get_by_role("button", name="Save and send").click()
    expect(answer.locator(".message-body")).to_have_text("About: Who approves leave?")
    expect(question.locator(".message-body")).to_have_text("Who approves leave?")
    expect(page.locator(".message")).to_have_count(2)
    expect(page.locator("#live-status")).to_have_text("Answer ready.")
    shots(page, "edited")
    assert [m.content for m in Message.objects.all()] == ["Who approves leave?", "About: Who approves leave?"]


def test_copy_puts_the_answer_and_its_sources_on_the_clipboard(signed_in_page, model, live_server):
    signed_in_page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = open_app(signed_in_page)
    ask(page, "How much leave do I get?")
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_have_text(REPLY)
    answer.get_by_role("button", name="Copy answer").click()
    expect(answer.locator(".message-actions")).to_contain_text("Copied")
    expect(page.locator("#live-status")).to_have_text("Answer copied.")
    assert page.evaluate("navigator.clipboard.readText()") == f"{REPLY}\n\nSources:\n[1] Handbook"
    expect(answer.locator(".message-actions")).not_to_contain_text("Copied")  # the confirmation goes away


def test_rate_an_answer_with_a_comment_and_take_it_back(signed_in_page, browser_user, shots):
    session = make_session(browser_user, "Leave")
    make_message(session, "How much leave?")
    answer_message = make_message(session, "Twenty-five days.", role=Message.Role.ASSISTANT)
    page = open_app(signed_in_page, f"/c/{session.id}")
    answer = page.locator(".message-assistant")
    bad = answer.get_by_role("button", name="Bad answer")
    expect(bad).to_have_attribute("aria-pressed", "false")
    bad.click()
    expect(bad).to_have_attribute("aria-pressed", "true")
    comment = page.get_by_role("textbox", name="Thanks! What was wrong? (optional)")
    expect(comment).to_be_focused()
    comment.fill("It is thirty days since January.")
    shots(page, "feedback-form")
    page.get_by_role("button", name="Send feedback").click()
    expect(answer).to_contain_text("Thanks for your feedback.")
    feedback = Feedback.objects.get()
    assert (feedback.message_id, feedback.rating, feedback.comment) == (
        answer_message.id, "down", "It is thirty days since January.")

    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(bad).to_have_attribute("aria-pressed", "true")  # the rating is shown again
    good = answer.get_by_role("button", name="Good answer")
    good.click()
    expect(good).to_have_attribute("aria-pressed", "true")
    expect(bad).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("textbox", name="Thanks! What was good? (optional)")).to_be_focused()
    page.keyboard.press("Escape")  # no comment this time
    expect(page.locator(".feedback-form")).to_have_count(0)
    assert Feedback.objects.get().rating == "up"
    good.click()  # the same thumb again takes the rating back
    expect(good).to_have_attribute("aria-pressed", "false")
    wait_for(lambda: not Feedback.objects.exists())


def test_answer_actions_fit_a_phone_in_dark_mode(new_page, browser_user, shots):
    session = make_session(browser_user, "Phone")
    make_message(session, "How much leave do I get in my first year at the company?")
    make_message(session, "Twenty-five days [1].", role=Message.Role.ASSISTANT, model="a-model-with-a-long-name",
                 status=Message.Status.STOPPED)
    page = new_page(viewport=PHONE, user=browser_user)
    page.emulate_media(color_scheme="dark")
    open_app(page, f"/c/{session.id}")
    answer = page.locator(".message-assistant")
    answer.get_by_role("button", name="Good answer").click()
    expect(page.locator(".feedback-form")).to_be_visible()
    expect(answer.locator(".stopped-badge")).to_be_visible()
    expect(page.get_by_role("button", name="Edit question")).to_have_count(1)
    shots(page, "phone-dark")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("document.getElementById('messages').scrollWidth") <= PHONE["width"]
