"""The session sidebar in a real browser: switch, history, rename, delete, URL and back button."""

import uuid

import pytest
from playwright.sync_api import expect

from sessions_app.models import ChatSession, Message
from tests.factories import make_message, make_session, make_user
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import PHONE, open_app

pytestmark = pytest.mark.browser


def chat_with_history(owner, name: str, question: str, answer: str) -> ChatSession:
    session = make_session(owner, name)
    make_message(session, question)
    make_message(session, answer, role=Message.Role.ASSISTANT)
    session.save()  # newest first, as a new message would do
    return session


def session_action(page, action: str, name: str):
    """The rename/delete buttons of a chat in the sidebar, which show when the pointer is over it."""
    page.locator(".session-item", has_text=name).hover()
    return page.get_by_role("button", name=f"{action} “{name}”")


def test_switch_sessions_and_back_keeps_history(signed_in_page, browser_user, shots):
    first = chat_with_history(browser_user, "Holidays", "How many days off?", "You have **25 days** a year.")
    second = chat_with_history(browser_user, "Expenses", "Who approves travel?", "Your manager approves it.")
    page = open_app(signed_in_page)
    items = page.locator(".session-item .session-name")
    expect(items).to_have_text(["Expenses", "Holidays"])  # newest first
    shots(page, "sidebar")

    page.get_by_role("link", name="Holidays").click()
    expect(page).to_have_url(f"/c/{first.id}")
    expect(page.locator("#chat-title")).to_have_text("Holidays")
    expect(page.locator(".message-user")).to_have_text(["How many days off?"])
    expect(page.locator(".message-assistant strong")).to_have_text("25 days")
    expect(page.locator('.session-link[aria-current="page"]')).to_have_text("Holidays")
    shots(page, "first-chat")

    page.get_by_role("link", name="Expenses").click()
    expect(page).to_have_url(f"/c/{second.id}")
    expect(page.locator(".message-user")).to_have_text(["Who approves travel?"])

    page.go_back()
    expect(page).to_have_url(f"/c/{first.id}")
    expect(page.locator(".message-user")).to_have_text(["How many days off?"])
    expect(page.locator("#chat-title")).to_have_text("Holidays")

    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(page.locator(".message-assistant .message-body")).to_have_text("You have 25 days a year.")


def test_long_history_opens_scrolled_to_the_end(signed_in_page, browser_user):
    session = make_session(browser_user, "Long")
    for i in range(30):
        make_message(session, f"Question {i}")
        make_message(session, f"Answer {i}\n\n" + "More detail. " * 20, role=Message.Role.ASSISTANT)
    page = open_app(signed_in_page, f"/c/{session.id}")
    expect(page.locator(".message-user").last).to_have_text("Question 29")
    expect(page.locator(".message-assistant").last).to_be_in_viewport()
    expect(page.locator(".message-user").first).not_to_be_in_viewport()


def test_rename_in_place(signed_in_page, browser_user, shots):
    session = make_session(browser_user, "Untitled")
    page = open_app(signed_in_page, f"/c/{session.id}")
    session_action(page, "Rename", "Untitled").click()
    field = page.get_by_role("textbox", name="Chat name")
    expect(field).to_be_focused()
    shots(page, "renaming")
    field.fill("Budget <b>2026</b>")
    field.press("Enter")
    expect(page.locator(".session-name")).to_have_text("Budget <b>2026</b>")
    expect(page.locator("#chat-title")).to_have_text("Budget <b>2026</b>")
    session.refresh_from_db()
    assert session.name == "Budget <b>2026</b>"

    # Escape cancels without saving.
    session_action(page, "Rename", "Budget <b>2026</b>").click()
    page.get_by_role("textbox", name="Chat name").fill("Something else")
    page.keyboard.press("Escape")
    expect(page.locator(".session-name")).to_have_text("Budget <b>2026</b>")
    session.refresh_from_db()
    assert session.name == "Budget <b>2026</b>"


def test_delete_asks_first_and_cancel_keeps_it(signed_in_page, browser_user, shots):
    keep = chat_with_history(browser_user, "Keep me", "q", "a")
    doomed = chat_with_history(browser_user, "Delete me", "q", "a")
    page = open_app(signed_in_page, f"/c/{doomed.id}")

    session_action(page, "Delete", "Delete me").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete me")
    shots(page, "confirm-delete")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert ChatSession.objects.filter(id=doomed.id).exists()

    session_action(page, "Delete", "Delete me").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator(".session-name")).to_have_text(["Keep me"])
    expect(page).to_have_url("/")  # the open chat is gone: back to a new one
    expect(page.locator(".empty-state")).to_be_visible()
    assert not ChatSession.objects.filter(id=doomed.id).exists()
    assert ChatSession.objects.filter(id=keep.id).exists()


def test_another_users_session_shows_not_found(signed_in_page):
    stranger = chat_with_history(make_user("mallory"), "Secret plans", "private question", "private answer")
    page = open_app(signed_in_page, f"/c/{stranger.id}")
    expect(page.locator("#thread").get_by_role("heading", name="Chat not found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Secret plans")
    expect(page.locator("body")).not_to_contain_text("private")
    page.goto(f"/c/{uuid.uuid4()}")
    expect(page.locator("#thread").get_by_role("heading", name="Chat not found")).to_be_visible()


def test_phone_sidebar_collapses_behind_the_menu_button(new_page, browser_user, shots):
    chat_with_history(browser_user, "On the go", "q", "a")
    page = open_app(new_page(viewport=PHONE, user=browser_user))
    sidebar = page.locator("#sidebar")
    expect(sidebar).not_to_be_in_viewport()
    shots(page, "phone-chat")
    page.get_by_role("button", name="Open menu").click()
    expect(sidebar).to_be_in_viewport()
    expect(page.get_by_role("button", name="New chat")).to_be_focused()
    shots(page, "phone-menu")
    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()
    page.get_by_role("button", name="Open menu").click()
    page.get_by_role("link", name="On the go").click()
    expect(page.locator("#chat-title")).to_have_text("On the go")
    expect(sidebar).not_to_be_in_viewport()
    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_keyboard_alone_reaches_a_chat_and_the_composer(signed_in_page, browser_user):
    chat_with_history(browser_user, "Keyboard", "typed question", "typed answer")
    page = open_app(signed_in_page)
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Keyboard":
            break
    outline = page.evaluate("getComputedStyle(document.activeElement).boxShadow")
    assert outline != "none"  # the focused element shows it
    page.keyboard.press("Tab")  # the chat's own actions come next
    expect(page.get_by_role("button", name="Rename “Keyboard”")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".message-user")).to_have_text(["typed question"])
