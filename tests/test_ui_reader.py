"""Citations open their passage, in a real browser: [1] opens the reader at the cited chunk, highlighted and
scrolled into view, with its page for a PDF and the original file to download."""

import pytest
from playwright.sync_api import expect

from knowledge.services import document_ingest
from tests.files import make_pdf_lines
from tests.ui_fixtures import *  # noqa: F403
from tests.ui_fixtures import open_app

pytestmark = pytest.mark.browser

FILLER = ["The committee met on a Tuesday and discussed the agenda items in the usual order without any decision."]


def ask(page, question: str):
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")
    answer = page.locator(".message-assistant").last
    expect(answer.locator(".message-body a.cite").first).to_be_visible()
    return answer


def long_handbook() -> str:
    paragraphs = [f"Section {n}. " + FILLER[0] + " " + FILLER[0] for n in range(1, 40)]
    paragraphs.insert(30, "Section 31a. Bicycles may be parked in the green shed behind the north garage, "
                          "which is unlocked with a badge.")
    return "\n\n".join(paragraphs)


def test_a_citation_opens_the_document_at_the_highlighted_passage(signed_in_page, browser_user, settings, shots):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 60, 10
    document_ingest(data=long_handbook().encode(), filename="facilities handbook.txt", user=browser_user)
    page = open_app(signed_in_page)
    answer = ask(page, "Where may bicycles be parked?")
    expect(answer.locator(".message-body")).to_contain_text("green shed")

    answer.locator(".message-body a.cite").first.click()
    reader = page.get_by_role("dialog", name="facilities handbook")
    expect(reader).to_be_visible()
    highlight = reader.locator("mark.reader-highlight")
    expect(highlight).to_contain_text("Bicycles may be parked in the green shed")
    expect(highlight).to_be_in_viewport()
    expect(highlight).to_be_focused()
    expect(reader.locator(".reader-text")).to_contain_text("Section 29.")  # context before the passage
    expect(reader.get_by_role("link", name="Download original")).to_be_visible()
    shots(page, "reader")

    # More of the document on request, above and below, without losing the passage.
    more = reader.get_by_role("button", name="Show more text")
    for _ in range(20):
        if not more.is_visible():
            break
        more.click()
        expect(reader.locator("#reader-next")).to_be_enabled()  # the window has landed (or it was the last)
    expect(reader.locator(".reader-text")).to_contain_text("Section 39.")
    expect(highlight).to_have_count(1)

    # Esc closes it and gives the conversation back, focus where it was; from the keyboard too; the source card
    # opens it as well.
    page.keyboard.press("Escape")
    expect(reader).to_be_hidden()
    citation = answer.locator(".message-body a.cite").first
    expect(citation).to_be_focused()
    citation.press("Enter")
    expect(reader.locator("mark.reader-highlight")).to_be_focused()
    page.keyboard.press("Escape")
    answer.locator(".source summary").first.click()
    answer.get_by_role("button", name="Open in document").first.click()
    expect(reader.locator("mark.reader-highlight")).to_be_in_viewport()


def test_a_pdf_citation_shows_its_page_and_the_original_downloads(signed_in_page, browser_user, settings, shots,
                                                                  tmp_path):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 40, 5
    pages = [[f"Page {n} of the travel policy.", *FILLER * 3] for n in range(1, 6)]
    pages[3] = ["Page 4 of the travel policy.", "Train tickets above two hundred euros need approval",
                "from the finance office before booking.", *FILLER]
    pdf = make_pdf_lines(pages)
    document_ingest(data=pdf, filename="travel policy.pdf", user=browser_user)
    page = open_app(signed_in_page)
    answer = ask(page, "Which train tickets need approval from the finance office?")
    answer.locator(".message-body a.cite").first.click()
    reader = page.get_by_role("dialog", name="travel policy")
    highlight = reader.locator("mark.reader-highlight")
    expect(highlight).to_contain_text("finance office")
    expect(highlight).to_be_in_viewport()
    expect(reader.locator("#reader-meta")).to_contain_text("Page 4 of 5")
    expect(reader.locator(".reader-page").filter(has_text="Page 4")).to_have_count(1)
    shots(page, "pdf-reader")

    with page.expect_download() as download_info:
        reader.get_by_role("link", name="Download original").click()
    download = download_info.value
    assert download.suggested_filename == "travel policy.pdf"
    target = tmp_path / "downloaded.pdf"
    download.save_as(target)
    assert target.read_bytes() == pdf


def test_a_text_sent_as_json_opens_without_a_download_link(signed_in_page, browser_user):
    document_ingest(text="Parking is free for visitors on weekends at the east entrance.", title="Parking",
                    user=browser_user)
    page = open_app(signed_in_page)
    answer = ask(page, "Is parking free on weekends?")
    answer.locator(".message-body a.cite").first.click()
    reader = page.get_by_role("dialog", name="Parking")
    expect(reader.locator("mark.reader-highlight")).to_contain_text("Parking is free")
    expect(reader.locator("#reader-download")).to_be_hidden()


def test_the_knowledge_base_lists_a_download_for_kept_originals(signed_in_page, browser_user, tmp_path):
    document_ingest(data=b"Parking is free on weekends.\n", filename="parking.md", user=browser_user)
    document_ingest(text="Canteen opens at noon.", title="Canteen", user=browser_user)
    page = open_app(signed_in_page)
    page.get_by_role("button", name="Knowledge base", exact=True).click()
    panel = page.get_by_role("dialog", name="Knowledge base")
    expect(panel.locator(".document")).to_have_count(2)
    expect(panel.get_by_role("link", name="Download the original of “Canteen”")).to_have_count(0)
    with page.expect_download() as download_info:
        panel.get_by_role("link", name="Download the original of “parking”").click()
    assert download_info.value.suggested_filename == "parking.md"
    download_info.value.save_as(tmp_path / "parking.md")
    assert (tmp_path / "parking.md").read_bytes() == b"Parking is free on weekends.\n"


def test_a_citation_whose_passage_or_document_is_gone_says_so(signed_in_page, browser_user):
    from knowledge.services import document_delete, document_reembed

    document = document_ingest(text="Parking is free for visitors on weekends at the east entrance.",
                               title="Parking", user=browser_user)
    page = open_app(signed_in_page)
    answer = ask(page, "Is parking free on weekends?")
    document_reembed(document=document)  # new chunks: the cited chunk id is gone
    answer.locator(".message-body a.cite").first.click()
    reader = page.get_by_role("dialog", name="Parking")
    expect(reader.get_by_role("alert")).to_have_text("The cited passage is no longer in this document.")
    expect(reader.locator(".reader-text")).to_contain_text("Parking is free")  # the start, without a highlight
    expect(reader.locator("mark")).to_have_count(0)
    page.keyboard.press("Escape")

    document_delete(document=document)
    answer.locator(".message-body a.cite").first.click()
    expect(page.locator("#reader-error")).to_have_text("This document is not available (it may have been deleted).")
