"""Browser fixtures for the end-to-end UI tests: headless Chromium (Debian's) driven by Playwright.

Import the fixtures into a test module with `from tests.ui_fixtures import *  # noqa: F403`.
A failing test leaves screenshots of the screens it passed through, and the browser console, in
test-artifacts/<test name>/ (gitignored).
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.factories import PASSWORD, make_user

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(django_settings.BASE_DIR) / "test-artifacts"
TIMEOUT_MS = 15_000  # a generous ceiling for one UI step; tests wait on state, never on time

__all__ = ["browser", "browser_user", "new_page", "signed_in_page", "shots", "PASSWORD", "DESKTOP", "PHONE",
           "login_through_form", "open_app"]


# Per module, not per session: each test module imports its own copy of this fixture, and two Playwright
# instances cannot be alive in one thread at once.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run in a thread
    # that has one unless told it is fine (it is: the loop only drives the browser).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Shots:
    """Screenshots of the main screens a test passes through, written out only if the test fails."""

    def __init__(self):
        self.pages = []
        self.taken: list[tuple[str, bytes]] = []
        self.console: list[str] = []

    def watch(self, page):
        self.pages.append(page)
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def __call__(self, page, name: str) -> None:
        self.taken.append((name, page.screenshot(full_page=True)))

    def save(self, test_name: str) -> None:
        folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test_name)
        folder.mkdir(parents=True, exist_ok=True)
        for index, (name, png) in enumerate(self.taken, start=1):
            (folder / f"{index:02d}-{name}.png").write_bytes(png)
        for index, page in enumerate(self.pages):
            if not page.is_closed():
                page.screenshot(path=str(folder / f"final-{index}.png"), full_page=True)
        (folder / "console.txt").write_text("\n".join(self.console))


@pytest.fixture
def shots(request):
    taken = Shots()
    failed_before = request.session.testsfailed
    yield taken
    # The call phase has been reported by now: a failure there counts in session.testsfailed.
    if request.session.testsfailed > failed_before:
        taken.save(request.node.name)


@pytest.fixture
def browser_user(transactional_db):
    return make_user("carol")


@pytest.fixture
def new_page(browser, live_server, shots):
    """new_page(viewport=DESKTOP, user=None) -> a Playwright page on the live server (signed in as `user`)."""
    contexts = []

    def make(viewport=DESKTOP, user=None):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
            context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
        page = context.new_page()
        shots.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def signed_in_page(new_page, browser_user):
    return new_page(user=browser_user)


def open_app(page, path: str = "/"):
    """Loads the chat page and waits until its script has drawn the sidebar and the conversation."""
    page.goto(path)
    page.wait_for_selector("html[data-ready='true']")
    return page


def login_through_form(page, username: str, password: str = PASSWORD):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
