"""The sidebar and the chat's options in a real browser: search, pin, archive, export, and paging as you scroll."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sessions_app.models import ChatSession, Message
from tests.factories import make_message, make_session
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import PHONE, open_app

pytestmark = pytest.mark.browser


def chat(owner, name, question="q", answer="a", **fields) -> ChatSession:
    session = make_session(owner, name)
    make_message(session, question)
    make_message(session, answer, role=Message.Role.ASSISTANT)
    ChatSession.objects.filter(pk=session.pk).update(**fields)
    return session


def chat_option(page, name: str):
    page.get_by_role("button", name="Chat options").click()
    return page.get_by_role("menuitem", name=name)


def sidebar_names(page):
    return page.locator("#session-nav .session-name")


def test_search_finds_chats_by_title_and_content_and_escape_clears_it(signed_in_page, browser_user, shots):
    chat(browser_user, "Espresso notes", "How fine should I grind?", "Grind finer if the shot runs fast.")
    chat(browser_user, "Holidays", "How many days off?", "Twenty-five days of paid leave.")
    chat(browser_user, "Grinder shopping")
    page = open_app(signed_in_page)
    search = page.get_by_role("searchbox", name="Search chats")
    search.fill("grind")
    expect(sidebar_names(page)).to_have_text(["Grinder shopping", "Espresso notes"])
    expect(page.locator(".session-item", has_text="Espresso notes").locator(".session-match")).to_contain_text(
        "How fine should I grind?")
    shots(page, "search")
    search.fill("paid leave")
    expect(sidebar_names(page)).to_have_text(["Holidays"])
    search.fill("nothing like this")
    expect(page.locator("#sessions-empty")).to_have_text("No chats match “nothing like this”.")
    search.press("Escape")
    expect(search).to_have_value("")
    expect(sidebar_names(page)).to_have_count(3)


def test_pin_a_chat_from_its_options_and_it_stays_on_top(signed_in_page, browser_user, shots):
    chat(browser_user, "Older")
    chat(browser_user, "Newer")
    page = open_app(signed_in_page)
    expect(sidebar_names(page)).to_have_text(["Newer", "Older"])
    page.get_by_role("link", name="Older").click()
    expect(page.locator("#chat-title")).to_have_text("Older")
    chat_option(page, "Pin chat").click()
    expect(page.locator("#pinned-list .session-name")).to_have_text(["Older"])
    expect(page.locator("#pinned-heading")).to_be_visible()
    expect(page.locator("#session-list .session-name")).to_have_text(["Newer"])
    shots(page, "pinned")
    assert ChatSession.objects.get(name="Older").pinned
    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(page.locator("#pinned-list .session-name")).to_have_text(["Older"])
    chat_option(page, "Unpin chat").click()
    expect(page.locator("#pinned-heading")).to_be_hidden()
    expect(sidebar_names(page)).to_have_text(["Newer", "Older"])


def test_archive_hides_a_chat_the_archive_lists_it_and_unarchive_brings_it_back(signed_in_page, browser_user,
                                                                                 shots):
    chat(browser_user, "Keep")
    done = chat(browser_user, "Finished project")
    page = open_app(signed_in_page, f"/c/{done.id}")
    chat_option(page, "Archive chat").click()
    expect(sidebar_names(page)).to_have_text(["Keep"])
    banner = page.locator("#archived-banner")
    expect(banner).to_be_visible()
    shots(page, "archived")
    assert ChatSession.objects.get(pk=done.pk).archived

    page.get_by_role("button", name="Archived chats").click()
    expect(page.get_by_role("heading", name="Archived chats")).to_be_visible()
    expect(sidebar_names(page)).to_have_text(["Finished project"])
    shots(page, "archive-view")
    page.get_by_role("link", name="Finished project").hover()
    page.get_by_role("button", name="Unarchive “Finished project”").click()
    expect(page.locator("#sessions-empty")).to_have_text("No archived chats.")
    expect(banner).to_be_hidden()
    page.get_by_role("button", name="Back to chats").click()
    expect(sidebar_names(page)).to_have_text(["Finished project", "Keep"])
    assert not ChatSession.objects.get(pk=done.pk).archived

    chat_option(page, "Archive chat").click()
    expect(banner).to_be_visible()
    banner.get_by_role("button", name="Unarchive").click()
    expect(banner).to_be_hidden()
    expect(sidebar_names(page)).to_have_count(2)


def test_export_downloads_markdown_and_json(signed_in_page, browser_user):
    session = chat(browser_user, "Leave questions", "How many days?", "Twenty-five [1].")
    page = open_app(signed_in_page, f"/c/{session.id}")
    with page.expect_download() as markdown:
        chat_option(page, "Export as Markdown").click()
    assert markdown.value.suggested_filename == "leave-questions.md"
    text = open(markdown.value.path(), encoding="utf-8").read()
    assert text.startswith("# Leave questions") and "How many days?" in text and "Twenty-five [1]." in text
    with page.expect_download() as exported:
        chat_option(page, "Export as JSON").click()
    assert exported.value.suggested_filename == "leave-questions.json"
    body = json.loads(open(exported.value.path(), encoding="utf-8").read())
    assert [m["content"] for m in body["messages"]] == ["How many days?", "Twenty-five [1]."]


def test_the_options_menu_works_from_the_keyboard(signed_in_page, browser_user):
    session = chat(browser_user, "Keyboard")
    page = open_app(signed_in_page, f"/c/{session.id}")
    button = page.get_by_role("button", name="Chat options")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="Pin chat")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("menuitem", name="Archive chat")).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")  # wraps around to the last item
    expect(page.get_by_role("menuitem", name="Export as JSON")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#chat-menu")).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.locator("#pinned-list .session-name")).to_have_text(["Keyboard"])


def test_the_sidebar_loads_a_page_at_a_time_as_it_scrolls(signed_in_page, browser_user):
    now = timezone.now()
    ChatSession.objects.bulk_create([
        ChatSession(owner=browser_user, name=f"Chat {i:02d}") for i in range(70)])
    for i, session in enumerate(ChatSession.objects.order_by("name")):
        ChatSession.objects.filter(pk=session.pk).update(updated_at=now - timedelta(minutes=i))
    pages = []
    signed_in_page.on("request", lambda r: pages.append(r.url) if "/api/sessions?" in r.url else None)
    page = open_app(signed_in_page)
    names = sidebar_names(page)
    expect(names).to_have_count(30)
    expect(names.first).to_have_text("Chat 00")
    assert len(pages) == 1
    page.locator("#session-nav").evaluate("nav => nav.scrollTop = nav.scrollHeight")
    expect(names).to_have_count(60)
    page.locator("#session-nav").evaluate("nav => nav.scrollTop = nav.scrollHeight")
    expect(names).to_have_count(70)
    expect(names.last).to_have_text("Chat 69")
    expect(page.locator("#sessions-more")).to_be_hidden()
    assert len(pages) == 3 and all("page_size=30" in url for url in pages)


def test_a_new_turn_moves_its_chat_to_the_top_without_reloading_the_list(signed_in_page, browser_user):
    older = chat(browser_user, "Older")
    chat(browser_user, "Newer")
    page = open_app(signed_in_page, f"/c/{older.id}")
    expect(sidebar_names(page)).to_have_text(["Newer", "Older"])
    box = page.get_by_role("textbox", name="Message")
    box.fill("Another question")
    box.press("Enter")
    expect(sidebar_names(page)).to_have_text(["Older", "Newer"])


def test_sidebar_with_search_and_archive_fits_a_phone_in_dark_mode(new_page, browser_user, shots):
    chat(browser_user, "A pinned chat with a rather long name that must be cut", pinned=True)
    chat(browser_user, "Another chat", "A question whose words match the search", "answer")
    page = new_page(viewport=PHONE, user=browser_user)
    page.emulate_media(color_scheme="dark")
    open_app(page)
    page.get_by_role("button", name="Open menu").click()
    page.get_by_role("searchbox", name="Search chats").fill("match the search")
    expect(sidebar_names(page)).to_have_text(["Another chat"])
    expect(page.locator(".session-match")).to_have_text("…whose words match the search")
    shots(page, "phone-search")
    assert page.evaluate("document.getElementById('sidebar').scrollWidth") <= PHONE["width"]
    page.get_by_role("link", name="Another chat").click()
    page.get_by_role("button", name="Chat options").click()
    expect(page.get_by_role("menuitem", name="Export as JSON")).to_be_in_viewport()
    shots(page, "phone-menu")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
