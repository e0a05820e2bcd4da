"""Whatever HTML a document, an answer or a chat name carries is shown as text in the browser, never run."""

import pytest
from playwright.sync_api import expect

from knowledge.services import document_ingest
from tests.factories import make_session
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import open_app

pytestmark = pytest.mark.browser

IMG = '<img src=x onerror="window.pwned=1;alert(1)">'
SCRIPT = "<script>window.pwned=2;alert(2)</script>"
HOSTILE_TITLE = f"Policy {IMG}{SCRIPT}"
HOSTILE_TEXT = f"The holiday policy grants leave. The secret word is {IMG} and {SCRIPT} here."


@pytest.fixture
def watched(signed_in_page):
    """The page, with every JavaScript dialog recorded (an alert() would mean injected code ran)."""
    dialogs = []
    signed_in_page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    signed_in_page.dialogs = dialogs
    return signed_in_page


def assert_inert(page):
    assert page.dialogs == []
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0
    assert page.locator("main script, dialog script").count() == 0


def test_hostile_document_title_and_offline_answer_stay_text(watched, browser_user, shots):
    document_ingest(text=HOSTILE_TEXT, title=HOSTILE_TITLE, user=browser_user)
    make_session(browser_user, name=f"Chat {IMG}")
    page = open_app(watched)
    expect(page.locator(".session-name")).to_have_text(f"Chat {IMG}")

    page.get_by_role("textbox", name="Message").fill(f"What is the secret word? {SCRIPT}")
    page.get_by_role("textbox", name="Message").press("Enter")
    answer = page.locator(".message-assistant")
    expect(answer.locator(".message-body")).to_contain_text(IMG)
    expect(answer.locator(".source-title")).to_have_text([HOSTILE_TITLE])
    expect(page.locator(".message-user")).to_have_text([f"What is the secret word? {SCRIPT}"])
    answer.locator(".source summary").click()
    expect(answer.locator(".snippet")).to_contain_text(SCRIPT)

    page.get_by_role("button", name="Knowledge base", exact=True).click()
    expect(page.locator(".document-title")).to_have_text([HOSTILE_TITLE])
    shots(page, "hostile-document")
    assert_inert(page)


def test_hostile_model_answer_stays_text(watched, browser_user, openai_server, settings, shots):
    openai_server.configure(settings, chat=True)
    openai_server.reply = (f"Sure {IMG} then {SCRIPT} and [a link](javascript:alert(3)) "
                           "and ![pixel](https://example.com/p.png) [1]")
    document_ingest(text="The holiday policy grants leave.", title="Holidays", user=browser_user)
    page = open_app(watched)
    page.get_by_role("textbox", name="Message").fill("Tell me about holidays")
    page.get_by_role("textbox", name="Message").press("Enter")
    body = page.locator(".message-assistant .message-body")
    expect(body).to_contain_text(f"Sure {IMG} then {SCRIPT} and [a link](javascript:alert(3))")
    expect(body.locator("a.cite")).to_have_text(["[1]"])
    expect(body.locator("a")).to_have_count(1)  # the citation only: no javascript: link
    shots(page, "hostile-answer")
    page.reload()  # and again when the history is drawn from the API
    page.wait_for_selector("html[data-ready='true']")
    expect(page.locator(".message-assistant .message-body")).to_contain_text(f"Sure {IMG} then {SCRIPT}")
    assert_inert(page)
