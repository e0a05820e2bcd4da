"""Collections and chat scope in a real browser: the scope picker in the chat header, `#` in the composer, and
the knowledge base's collection on upload and in the list."""

import re

import pytest
from playwright.sync_api import expect

from knowledge.models import Collection, Document
from sessions_app.models import ChatSession
from tests.factories import make_collection, make_document, run_queued
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import open_app

pytestmark = pytest.mark.browser

ACME = "The supplier contract with Acme renews every March and carries a ninety day notice period."
LEASE = "The office lease in Berlin runs until 2030; the notice period is six months before the end."
MENU = "The canteen serves lentil soup on Mondays; the notice period for catering orders is two days."


@pytest.fixture
def library(browser_user):
    contracts = make_collection("Contracts")
    return {"contracts": contracts,
            "acme": make_document(ACME, title="Acme contract", collection=contracts),
            "lease": make_document(LEASE, title="Berlin lease", collection=contracts),
            "menu": make_document(MENU, title="Canteen menu")}


def ask(page, question: str):
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")


def source_titles(page):
    return page.locator(".message-assistant").last.locator(".sources .source-title")


def test_the_scope_picker_limits_a_new_chat_and_is_saved_with_it(signed_in_page, browser_user, library, shots):
    page = open_app(signed_in_page)
    chips = page.locator("#scope-chips")
    expect(chips).to_have_text("All documents")
    page.get_by_role("button", name="Choose…").click()
    picker = page.get_by_role("dialog", name="Answer from…")
    expect(picker).to_be_visible()
    expect(picker.locator(".scope-option")).to_have_count(5)  # Contracts, General, and the three documents
    picker.get_by_role("searchbox").fill("contr")
    expect(picker.locator(".scope-option")).to_have_count(2)  # the collection, and "Acme contract"
    picker.get_by_role("checkbox", name=re.compile(r"^Contracts Collection")).check()
    shots(page, "picker")
    picker.get_by_role("button", name="Apply").click()
    expect(chips).to_contain_text("Contracts")

    ask(page, "What is the notice period?")
    expect(source_titles(page).first).to_be_visible()
    assert set(source_titles(page).all_text_contents()) <= {"Acme contract", "Berlin lease"}
    session = ChatSession.objects.get(owner=browser_user)
    assert list(session.scope_collections.values_list("name", flat=True)) == ["Contracts"]
    shots(page, "scoped-answer")

    page.reload()
    page.wait_for_selector("html[data-ready='true']")
    expect(chips).to_contain_text("Contracts")
    with page.expect_response(lambda r: r.request.method == "PATCH") as saved:
        page.get_by_role("button", name="Remove “Contracts” from this chat's scope").click()
    assert saved.value.ok
    expect(chips).to_have_text("All documents")
    assert not ChatSession.objects.get(pk=session.pk).scope_collections.exists()


def test_hash_in_the_composer_adds_a_document_to_the_scope(signed_in_page, browser_user, library, shots):
    page = open_app(signed_in_page)
    box = page.get_by_role("textbox", name="Message")
    box.click()
    box.type("#berl")
    suggestions = page.get_by_role("listbox", name="Collections and documents")
    expect(suggestions).to_be_visible()
    expect(suggestions.get_by_role("option")).to_have_count(1)
    expect(suggestions.get_by_role("option").first).to_contain_text("Berlin lease")
    shots(page, "mention")
    box.press("Enter")  # chooses the suggestion; does not send
    expect(suggestions).to_be_hidden()
    expect(page.locator("#scope-chips")).to_contain_text("Berlin lease")
    expect(box).to_have_value("")
    box.type("What is the notice period?")
    box.press("Enter")
    expect(source_titles(page)).to_have_text(["Berlin lease"])
    session = ChatSession.objects.get(owner=browser_user)
    assert list(session.scope_documents.values_list("title", flat=True)) == ["Berlin lease"]

    # In a chat that exists, # saves at once; Escape closes the list without choosing.
    box.type("and #cant")
    expect(suggestions.get_by_role("option")).to_have_count(1)
    expect(suggestions.locator(".mention-name")).to_have_text(["Canteen menu"])
    box.press("ArrowDown")  # wraps around the one suggestion
    with page.expect_response(lambda r: r.request.method == "PATCH") as saved:
        box.press("Tab")
    assert saved.value.ok
    expect(page.locator("#scope-chips .scope-chip")).to_have_count(2)
    expect(box).to_have_value("and")
    assert session.scope_documents.count() == 2
    box.type(" #zzz")
    expect(suggestions).to_contain_text("No collection or document by that name")
    box.press("Escape")
    expect(suggestions).to_be_hidden()
    shots(page, "two-chips")


def test_the_knowledge_base_uploads_into_a_chosen_collection_and_shows_each_documents(signed_in_page, library,
                                                                                       shots):
    page = open_app(signed_in_page)
    page.get_by_role("button", name="Knowledge base", exact=True).click()
    panel = page.get_by_role("dialog", name="Knowledge base")
    expect(panel.locator(".document")).to_have_count(3)
    expect(panel.locator(".document", has_text="Berlin lease").locator(".document-collection")).to_have_text(
        "Contracts")
    target = panel.get_by_label("Upload to")
    expect(target.locator("option")).to_have_text(["General", "Contracts"])
    target.select_option(label="Contracts")
    page.locator("#file-input").set_input_files(
        [{"name": "nda.txt", "mimeType": "text/plain", "buffer": b"The NDA lasts five years after signing."}])
    expect(page.locator(".upload-status")).to_have_text("Uploaded · processing in the background")
    run_queued()
    # Its uploader may move it: its collection is a choice.
    move = panel.get_by_label("Collection of “nda”")
    expect(move).to_have_value(str(library["contracts"].pk))
    assert Document.objects.get(title="nda").collection == library["contracts"]
    shots(page, "knowledge-base")
    general = Document.objects.get(title="Canteen menu").collection
    with page.expect_response(lambda r: r.request.method == "PATCH") as moved:
        move.select_option(label="General")
    assert moved.value.ok
    expect(panel.get_by_label("Collection of “nda”")).to_have_value(str(general.pk))
    assert Document.objects.get(title="nda").collection == general


def test_a_new_collection_made_in_the_knowledge_base_becomes_the_upload_target(signed_in_page, browser_user,
                                                                             library, other_user, shots):
    page = open_app(signed_in_page)
    page.get_by_role("button", name="Knowledge base", exact=True).click()
    panel = page.get_by_role("dialog", name="Knowledge base")
    panel.get_by_role("button", name="New collection…").click()
    panel.get_by_label("Name").fill("Carol's drafts")
    panel.get_by_label("Who may read it").select_option("groups")
    shots(page, "new-collection")
    panel.get_by_role("button", name="Create").click()
    target = panel.get_by_label("Upload to")
    expect(target.locator("option:checked")).to_have_text("Carol's drafts")
    created = Collection.objects.get(name="Carol's drafts")
    assert created.owner == browser_user and created.visibility == Collection.Visibility.GROUPS
    assert not Collection.objects.readable_by(other_user).filter(pk=created.pk).exists()
    panel.get_by_role("button", name="New collection…").click()
    panel.get_by_label("Name").fill("contracts")
    panel.get_by_role("button", name="Create").click()
    expect(panel.locator("#collection-error")).to_contain_text("exists already")
