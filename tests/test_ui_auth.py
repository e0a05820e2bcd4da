"""Signing in and out of the web UI, and who may see the chat page."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.factories import make_session, make_user
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import PASSWORD, login_through_form


@pytest.mark.django_db
def test_chat_page_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_session_url_serves_the_app_for_any_session_id(client):
    # The page does not look the session up: the script asks the API, which answers 404 for strangers.
    client.force_login(make_user("dave"))
    other = make_session(make_user("erin"))
    for path in ("/", f"/c/{other.id}", f"/c/{uuid.uuid4()}"):
        response = client.get(path)
        assert response.status_code == 200
        assert b'id="app"' in response.content
    assert client.get("/c/not-a-uuid").status_code == 404


@pytest.mark.django_db
def test_login_page_shows_an_error_for_a_wrong_password(client):
    make_user("dave")
    response = client.post("/accounts/login/", {"username": "dave", "password": "wrong"})
    assert response.status_code == 200
    assert b"form-error" in response.content


@pytest.mark.browser
def test_log_in_then_log_out(new_page, browser_user, shots):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
    shots(page, "login")
    login_through_form(page, browser_user.username, PASSWORD)
    page.wait_for_selector("html[data-ready='true']")
    expect(page.locator(".account-name")).to_have_text(browser_user.username)
    expect(page.locator("#sessions-empty")).to_be_visible()
    shots(page, "app-empty")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


@pytest.mark.browser
def test_wrong_password_stays_on_the_login_page(new_page, browser_user):
    page = new_page()
    login_through_form(page, browser_user.username, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
