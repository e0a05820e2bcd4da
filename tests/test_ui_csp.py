"""Every page carries a Content-Security-Policy with no inline script, and still works under it in Chromium:
the chat, the sign-in page, the admin and the API docs (Swagger UI). Any violation shows in the console."""

import pytest

from tests.factories import make_user
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import PASSWORD, login_through_form, open_app

pytestmark = pytest.mark.browser


def violations(page) -> list[str]:
    return [m for m in page.csp_console if "Content Security Policy" in m or "Refused to" in m]


def watched(page):
    page.csp_console = []
    page.on("console", lambda message: page.csp_console.append(message.text))
    return page


def policy(response) -> str:
    return response.headers.get("content-security-policy", "")


def test_sign_in_and_chat_pages_work_under_the_policy(new_page, browser_user):
    page = watched(new_page())
    response = page.goto("/accounts/login/")
    assert "script-src 'self'" in policy(response) and "unsafe-inline" not in policy(response)
    login_through_form(page, browser_user.username, PASSWORD)
    open_app(page)  # the chat's modules ran: the page marks itself ready
    page.get_by_role("button", name="Knowledge base", exact=True).click()
    page.wait_for_selector("#kb-dialog[open]")
    assert violations(page) == [], "\n".join(violations(page))


def test_admin_works_under_the_policy(new_page, transactional_db):
    staff = make_user("root", is_staff=True, is_superuser=True)
    page = watched(new_page(user=staff))
    response = page.goto("/admin/")
    assert "default-src 'self'" in policy(response)
    page.wait_for_selector("#site-name")
    page.goto("/admin/knowledge/document/")
    page.wait_for_selector("#changelist")
    page.goto("/admin/sessions_app/chatsession/add/")
    page.wait_for_selector("form")
    assert violations(page) == [], "\n".join(violations(page))


def test_api_docs_render_under_the_policy(new_page, browser_user):
    page = watched(new_page(user=browser_user))
    response = page.goto("/api/docs")
    assert "script-src 'self'" in policy(response)
    page.wait_for_selector(".opblock-tag", timeout=30_000)  # Swagger UI fetched the schema and drew it
    assert page.locator(".opblock").count() >= 10
    assert violations(page) == [], "\n".join(violations(page))
