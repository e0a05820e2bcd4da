"""The knowledge-base panel in a real browser: upload by picker and by drag and drop, results, live progress,
retry, cancel, delete. The worker's part is played by tests.factories.run_queued, in the test's thread."""

import pytest
from playwright.sync_api import expect

from knowledge.models import Document
from knowledge.services import document_ingest, document_submit
from tests.factories import make_user, run_queued
from tests.files import make_png
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import PHONE, open_app

pytestmark = pytest.mark.browser

HANDBOOK = (b"Employee handbook\n\nEvery employee has twenty-five days of paid leave per year. "
            b"Leave requests go to your manager at least two weeks ahead.\n")


def open_knowledge_base(page):
    page.get_by_role("button", name="Knowledge base", exact=True).click()
    panel = page.get_by_role("dialog", name="Knowledge base")
    expect(panel).to_be_visible()
    return panel


def test_empty_knowledge_base_says_what_to_do(signed_in_page, shots):
    page = open_app(signed_in_page)
    expect(page.locator("#thread")).to_contain_text("No documents yet")
    page.get_by_role("button", name="upload one to the knowledge base").click()
    panel = page.get_by_role("dialog", name="Knowledge base")
    expect(panel).to_contain_text("No documents yet. Upload one")
    shots(page, "knowledge-base-empty")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()


def test_upload_several_files_shows_each_result_and_lists_the_document(signed_in_page, browser_user, shots):
    page = open_app(signed_in_page)
    panel = open_knowledge_base(page)
    page.evaluate("""() => {
        window.progressSeen = [];
        new MutationObserver((records) => records.forEach((r) => {
            if (r.target.tagName === "PROGRESS" && r.target.hasAttribute("value")) {
                window.progressSeen.push(r.target.value);
            }
        })).observe(document.getElementById("upload-list"), {attributes: true, subtree: true});
    }""")
    page.locator("#file-input").set_input_files([
        {"name": "handbook.txt", "mimeType": "text/plain", "buffer": HANDBOOK},
        {"name": "handbook-again.txt", "mimeType": "text/plain", "buffer": HANDBOOK},
        {"name": "photo.png", "mimeType": "image/png", "buffer": make_png()},
    ])
    uploads = panel.locator(".upload")
    expect(uploads.filter(has_text="handbook.txt").locator(".upload-status")).to_have_text(
        "Uploaded · processing in the background")
    expect(uploads.filter(has_text="handbook-again.txt").locator(".upload-status")).to_have_text(
        "Duplicate: already uploaded as “handbook”")  # the same bytes are refused while the first is pending
    expect(uploads.filter(has_text="photo.png").locator(".upload-status")).to_contain_text("Unsupported file type")
    expect(panel.locator(".upload progress")).to_have_count(0)
    assert page.evaluate("window.progressSeen").count(1) == 3  # each upload reported its bytes all sent

    documents = panel.locator(".document")
    expect(documents).to_have_count(1)
    expect(documents.first.locator(".document-title")).to_have_text("handbook")
    expect(documents.first.locator(".badge")).to_have_text("pending")
    expect(documents.first.locator(".document-stage")).to_have_text("Queued")
    shots(page, "knowledge-base-queued")

    run_queued()  # the worker reads and embeds it; the panel follows without a reload
    expect(documents.first.locator(".badge")).to_have_text("ready")
    expect(documents.first.locator(".document-meta")).to_contain_text(f"{len(HANDBOOK)} B · 1 chunk · by carol")
    expect(documents.first.locator(".document-stage")).to_have_count(0)
    shots(page, "knowledge-base-uploaded")
    assert Document.objects.get().uploaded_by == browser_user


def test_too_large_upload_says_so(signed_in_page, settings):
    settings.DOCUMENT_MAX_BYTES = 100
    page = open_app(signed_in_page)
    panel = open_knowledge_base(page)
    page.locator("#file-input").set_input_files(
        [{"name": "big.txt", "mimeType": "text/plain", "buffer": b"word " * 100}])
    expect(panel.locator(".upload-status")).to_contain_text("Too large")
    expect(panel.locator(".document")).to_have_count(0)
    assert not Document.objects.exists()


def test_drag_and_drop_uploads_the_dropped_files(signed_in_page, shots):
    page = open_app(signed_in_page)
    panel = page.get_by_role("dialog", name="Knowledge base")
    page.evaluate("""() => {
        const files = new DataTransfer();
        files.items.add(new File(["# Travel policy\\n\\nBook trains for trips under four hours."], "travel.md",
                                 {type: "text/markdown"}));
        files.items.add(new File(["Expenses are paid monthly."], "expenses.txt", {type: "text/plain"}));
        // Dragged over the chat first: the knowledge base opens to take the files.
        document.getElementById("thread").dispatchEvent(
            new DragEvent("dragenter", {dataTransfer: files, bubbles: true, cancelable: true}));
        const zone = document.getElementById("dropzone");
        for (const type of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: files, bubbles: true, cancelable: true}));
        }
    }""")
    expect(panel).to_be_visible()
    expect(panel.locator(".upload-ok")).to_have_count(2)
    run_queued()
    expect(panel.locator(".document-title")).to_have_text(["expenses", "Travel policy"])
    shots(page, "dropped")
    assert Document.objects.count() == 2


def test_delete_own_document_after_confirming_others_have_no_delete(signed_in_page, browser_user, shots):
    mine = document_ingest(text="Parking is free on weekends.", title="Parking", user=browser_user)
    theirs = document_ingest(text="The canteen opens at noon.", title="Canteen", user=make_user("frank"))
    page = open_app(signed_in_page)
    panel = open_knowledge_base(page)
    expect(panel.locator(".document")).to_have_count(2)
    expect(panel.get_by_role("button", name="Delete “Canteen”")).to_have_count(0)

    panel.get_by_role("button", name="Delete “Parking”").click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_contain_text("Parking")
    shots(page, "confirm-document-delete")
    confirm.get_by_role("button", name="Cancel").click()
    expect(panel.locator(".document")).to_have_count(2)
    assert Document.objects.filter(id=mine.id).exists()

    panel.get_by_role("button", name="Delete “Parking”").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(panel.locator(".document-title")).to_have_text(["Canteen"])
    # The panel is still open after the confirmation closed.
    expect(panel).to_be_visible()
    assert not Document.objects.filter(id=mine.id).exists()
    assert Document.objects.filter(id=theirs.id).exists()


def test_knowledge_base_fits_a_phone(new_page, browser_user, shots):
    document_ingest(text="A rather long document title should wrap, not overflow the screen sideways.",
                    title="A rather long document title that should wrap instead of overflowing", user=browser_user)
    page = open_app(new_page(viewport=PHONE, user=browser_user))
    page.get_by_role("button", name="Open menu").click()
    panel = open_knowledge_base(page)
    expect(panel.locator(".document")).to_have_count(1)
    shots(page, "phone-knowledge-base")
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_progress_is_shown_live_and_a_failed_document_can_be_retried(signed_in_page, browser_user, shots):
    document = document_submit(text="The lighthouse keeper counts gulls at dawn. " * 40, title="Lighthouse",
                               user=browser_user, enqueue=False)
    page = open_app(signed_in_page)
    panel = open_knowledge_base(page)
    item = panel.locator(".document")
    expect(item.locator(".document-stage")).to_have_text("Queued")

    Document.objects.filter(pk=document.pk).update(status="processing", stage="reading", pages_read=3, page_count=12)
    expect(item.locator(".document-stage")).to_have_text("Reading page 3 of 12")
    assert item.locator("progress").evaluate("bar => bar.value") == 0.25
    Document.objects.filter(pk=document.pk).update(stage="embedding", chunks_embedded=40, chunk_count=160)
    expect(item.locator(".document-stage")).to_have_text("Embedding: 40 of 160 chunks")
    shots(page, "knowledge-base-progress")

    Document.objects.filter(pk=document.pk).update(
        status="failed", stage="", error="The file took longer than 300 s to read; refused.")
    expect(item.locator(".document-error")).to_have_text("The file took longer than 300 s to read; refused.")
    expect(item.locator(".badge")).to_have_text("failed")
    shots(page, "knowledge-base-failed")

    item.get_by_role("button", name="Retry “Lighthouse”").click()
    expect(item.locator(".badge")).to_have_text("pending")
    expect(item.get_by_role("button", name="Retry “Lighthouse”")).to_have_count(0)
    run_queued()
    expect(item.locator(".badge")).to_have_text("ready")
    assert Document.objects.get().status == "ready"


def test_cancel_a_document_that_is_still_processing(signed_in_page, browser_user):
    document_submit(text="Still being processed. " * 20, title="Slow one", user=browser_user, enqueue=False)
    page = open_app(signed_in_page)
    panel = open_knowledge_base(page)
    panel.get_by_role("button", name="Cancel “Slow one”").click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_contain_text("is still being processed: it will be stopped and removed")
    confirm.get_by_role("button", name="Cancel it").click()
    expect(panel.locator(".document")).to_have_count(0)
    assert not Document.objects.exists()
