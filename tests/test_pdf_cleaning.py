"""Clean PDF text: running headers, footers and page numbers removed, hyphenated words and wrapped lines joined.

Pure functions, and a generated PDF read through the real extraction; no database."""

from knowledge.extraction import extract
from knowledge.pdf_cleaning import clean_pages, join_lines, line_key, running_lines
from tests.files import make_pdf_lines

HEADER = "Shared MIME-info Database"


def report_pages() -> list[list[str]]:
    """Three pages with a running header, a numbered footer and a word hyphenated across a line break."""
    return [
        [HEADER, "The database maps file names and contents to", "media types for every desktop appli-",
         "cation that reads it.", "Page 1 of 3"],
        [HEADER, "Each entry names a glob pattern, a magic", "rule, or both, with a priority.", "Page 2 of 3"],
        [HEADER, "Applications ask the database for a type,", "never the file extension alone.", "Page 3 of 3"],
    ]


def test_generated_pdf_reads_as_the_pages_do():
    extracted = extract(make_pdf_lines(report_pages()), "spec.pdf")
    text = extracted.text
    assert HEADER not in text and "Page 1 of 3" not in text and "of 3" not in text
    assert "every desktop application that reads it." in text  # "appli-" + "cation" joined, lines unwrapped
    assert "The database maps file names and contents to media types" in text
    pages = [text[start:end].strip() for start, end in
             zip(extracted.page_starts, [*extracted.page_starts[1:], len(text)], strict=True)]
    assert pages[1] == "Each entry names a glob pattern, a magic rule, or both, with a priority."
    assert pages[2].startswith("Applications ask")  # page numbers kept: each page's text where it starts


def test_lines_repeating_at_page_edges_are_running_lines_digits_aside():
    pages = ["\n".join(lines) for lines in report_pages()]
    assert running_lines(pages) == {line_key(HEADER), "page # of #"}
    assert line_key("Page  12 of 30") == line_key("page 3 of 4") == "page # of #"


def test_a_line_repeated_in_the_body_or_on_too_few_pages_stays():
    body = ["Intro", "The same sentence.", "More text here.", "Still more text.", "End of page"]
    pages = ["\n".join(["Top", *body, "Bottom"]) for _ in range(2)]
    assert running_lines(pages) == set()  # two pages are not enough to call a line a header
    three = ["\n".join(["Header", "Body line one.", "The same sentence.", "Body line two.", "Footer"])] * 3
    cleaned = clean_pages(three)
    assert all("The same sentence." in page and "Header" not in page and "Footer" not in page for page in cleaned)


def test_one_line_pages_are_all_body():
    pages = [f"Page {n} says something about topic {n}." for n in range(1, 5)]
    assert clean_pages(pages) == pages


def test_a_lone_page_number_at_a_page_edge_goes():
    assert clean_pages(["Title page\nSome words.\n- 7 -"]) == ["Title page\nSome words."]
    assert clean_pages(["12\nSome words.\nMore words."]) == ["Some words.\nMore words."]
    assert clean_pages(["Results:\n42\nis the answer."])[0].count("42") == 1  # mid-page numbers stay


def test_join_lines_rejoins_hyphenated_words_and_wrapped_sentences():
    assert join_lines("a well-\nknown docu-\nment") == "a wellknown document"
    assert join_lines("soft\u00adhyphen") == "softhyphen"
    assert join_lines("first line of a\nsentence goes on") == "first line of a sentence goes on"
    assert join_lines("A heading\n\nA paragraph.") == "A heading\n\nA paragraph."
    assert join_lines("Items:\n- one\n- two") == "Items:\n- one\n- two"  # lists stay lists
    assert join_lines("End of a sentence.\nNext sentence.") == "End of a sentence.\nNext sentence."
    assert join_lines("Hyphen before a capital-\nLetter") == "Hyphen before a capital-\nLetter"
