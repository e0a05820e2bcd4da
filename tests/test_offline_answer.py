"""The offline backend's answer: plain sentences quoted from the prose of Markdown, text and HTML passages."""

from dataclasses import dataclass

import pytest

from chat.offline import MAX_SENTENCE_CHARS, NOT_COVERED, OFFLINE_PREFIX, extractive_answer, quotable_sentences
from knowledge.extraction import extract
from tests.factories import make_document, make_session

GUIDE = """# ragchat operations

## Starting

Run the setup script once before the first start:

```sh
make run    # venv, install, migrate. Then start the server and open the browser.
.venv/bin/python manage.py runserver
```

The server starts on port 8000 and opens the **chat page** at [the home page](http://127.0.0.1:8000/).

## Settings

| variable | default | meaning |
|---|---|---|
| `CHUNK_SIZE` | 800 | tokens per chunk |
| `RAG_TOP_K` | 5 | passages per answer |
| `DEBUG` | | |

## Keyboard shortcuts

- Enter: send the message.
- *Escape*: close the sidebar.

> Tip: the `Shift+Enter` key adds a new line to the message.
"""


@dataclass
class Passage:
    text: str
    position: int = 0  # the chunk's place in its document


def quoted(question: str, *texts: str) -> list[str]:
    """The answer's quoted lines ("- sentence [n]"), chosen by shared words alone."""
    answer = extractive_answer(question, [Passage(t) for t in texts]).text
    assert answer.startswith(OFFLINE_PREFIX + "\n\n"), answer
    return [line for line in answer.splitlines()[2:] if line.startswith("- ")]


def lead(question: str, *texts: str) -> str:
    """The line before the quotes that names the value asked for, or ""."""
    line = extractive_answer(question, [Passage(t) for t in texts]).text.splitlines()[2]
    return "" if line.startswith("- ") else line


def test_code_block_lines_are_never_quoted():
    sentences = [q.text for q in quotable_sentences(GUIDE)]
    assert not any("runserver" in s or "venv" in s or "```" in s for s in sentences)
    assert quoted("How do I start the server?", GUIDE)[0] == (
        "- The server starts on port 8000 and opens the chat page at the home page. [1]")


def test_a_passage_that_begins_inside_a_code_block_skips_the_code():
    # The chunk before this one held the opening fence.
    passage = ("pip install ragchat --upgrade --no-cache-dir\nragchat serve --port 8000 --reload\n```\n\n"
               "The server then listens on port 8000 for browser requests.")
    assert [q.text for q in quotable_sentences(passage)] == [
        "The server then listens on port 8000 for browser requests."]


def test_a_passage_that_ends_inside_a_code_block_keeps_the_prose_before_it():
    passage = "Install the package with pip, then start the server.\n\n```\npip install ragchat --upgrade now"
    assert [q.text for q in quotable_sentences(passage)] == ["Install the package with pip, then start the server."]


def test_a_table_row_reads_as_its_first_cell_then_the_others():
    sentences = [q.text for q in quotable_sentences(GUIDE)]
    assert "CHUNK_SIZE: 800 — tokens per chunk" in sentences
    assert not any("|" in s or "---" in s or "variable" in s or s.startswith("DEBUG") for s in sentences)
    assert quoted("What is CHUNK_SIZE?", GUIDE) == ["- CHUNK_SIZE: 800 — tokens per chunk [1]"]
    assert lead("What is CHUNK_SIZE?", GUIDE) == "CHUNK_SIZE is 800 [1]"


def test_the_table_header_helps_find_a_row():
    assert quoted("What is the default number of passages?", GUIDE)[0] == "- RAG_TOP_K: 5 — passages per answer [1]"
    assert lead("What is the default number of passages?", GUIDE) == "The default number of passages is 5 [1]"


def test_a_table_without_outer_pipes_is_read_as_a_table():
    table = "name | default | meaning\n--- | --- | ---\nRAG_TOP_K | 5 | passages per answer"
    assert [q.text for q in quotable_sentences(table)] == ["RAG_TOP_K: 5 — passages per answer"]


def test_list_items_are_quoted_without_their_markers():
    lines = quoted("Which keyboard shortcuts are there?", GUIDE)
    assert lines[:2] == ["- Enter: send the message. [1]", "- Escape: close the sidebar. [1]"]
    assert not any(line.startswith(("- - ", "- * ", "- 1. ")) for line in lines)


def test_numbered_and_task_list_markers_are_removed():
    passage = "1. Open the settings page of the app.\n2) Choose a new password there.\n- [x] Save the new password."
    assert [q.text for q in quotable_sentences(passage)] == [
        "Open the settings page of the app.", "Choose a new password there.", "Save the new password."]


def test_headings_and_blockquote_markers_are_removed():
    sentences = [q.text for q in quotable_sentences(GUIDE)]
    assert not any(s.startswith(("#", ">")) or "Settings" == s for s in sentences)
    assert "Tip: the Shift+Enter key adds a new line to the message." in sentences


def test_links_keep_their_text_and_lose_their_syntax():
    passage = ("Read [the install guide](https://example.com/install \"Install\") first, "
               "see ![a diagram](img/arch.png) and <https://example.com/faq> for more help.")
    assert [q.text for q in quotable_sentences(passage)] == [
        "Read the install guide first, see a diagram and https://example.com/faq for more help."]


def test_emphasis_and_code_backticks_are_removed():
    passage = "Set **CHUNK_SIZE** to _800_ and run `manage.py reindex` after a ~~big~~ change of *model*."
    assert [q.text for q in quotable_sentences(passage)] == [
        "Set CHUNK_SIZE to 800 and run manage.py reindex after a big change of model."]


def test_code_the_markdown_renderer_would_misread_keeps_its_backticks():
    passage = "Every package has an `__init__.py` file and `*.md` files hold the documents."
    assert [q.text for q in quotable_sentences(passage)] == [passage]


def test_a_bracketed_number_in_a_document_is_not_shown_as_a_citation():
    passage = "The retrieval paper [2] describes dense passage retrieval for open questions."
    assert quoted("dense passage retrieval", passage) == [
        "- The retrieval paper `[2]` describes dense passage retrieval for open questions. [1]"]


def test_a_sentence_in_two_overlapping_passages_is_quoted_once_citing_the_first():
    shared = "Holidays are requested in the HR portal two weeks ahead."
    lines = quoted("How are holidays requested?", f"Intro text about leave rules here. {shared}",
                   f"{shared} Sick days need no approval at all.")
    assert lines == [f"- {shared} [1]"]


def test_citation_numbers_are_the_numbers_of_the_passages_quoted():
    lines = quoted("Where does the Seine river flow?", "Bread needs flour, water and salt.",
                   "The Seine river flows through Paris to the sea.", "The Loire river flows through Orléans.")
    assert lines[0] == "- The Seine river flows through Paris to the sea. [2]"
    assert all(line.endswith(("[2]", "[3]")) for line in lines)


def test_a_weak_runner_up_is_not_quoted_beside_a_strong_answer():
    lines = quoted("How many days of paid leave do I get?",
                   "Every employee gets twenty-five days of paid leave a year.\n\nLunch is paid on Fridays.")
    assert lines == ["- Every employee gets twenty-five days of paid leave a year. [1]"]


def test_the_sentences_that_carry_on_the_best_one_follow_it():
    notes = ("Grind size is the main espresso adjustment. If the shot runs fast and tastes sour, grind finer. "
             "If it runs slow and tastes bitter, grind coarser. Clean the machine daily.\n\n"
             "Grind the beans just before brewing, never the evening before.")
    lines = quoted("What grind size for espresso?", notes)
    assert lines[0] == "- Grind size is the main espresso adjustment. [1]"
    assert sorted(lines[1:]) == ["- If it runs slow and tastes bitter, grind coarser. [1]",
                                 "- If the shot runs fast and tastes sour, grind finer. [1]"]


def test_a_better_runner_up_comes_before_a_weaker_sentence_that_follows_the_best():
    guide = ("Uploading the same file twice is refused as a duplicate. You can delete the files you uploaded.\n\n"
             "Supported formats are plain text, Markdown, PDF and Word.")
    assert quoted("Which file formats can I upload?", guide) == [
        "- Uploading the same file twice is refused as a duplicate. [1]",
        "- Supported formats are plain text, Markdown, PDF and Word. [1]",
        "- You can delete the files you uploaded. [1]"]


def test_a_sentence_may_start_with_a_lower_case_name_but_not_after_an_abbreviation():
    passage = "Search is one product of vectors. ragchat keeps them in memory, e.g. in one matrix for all documents."
    assert [q.text for q in quotable_sentences(passage)] == [
        "Search is one product of vectors.", "ragchat keeps them in memory, e.g. in one matrix for all documents."]


def test_a_long_sentence_is_cut_between_words():
    sentence = "The grind " + " ".join(f"adjustment{i}" for i in range(80)) + " matters."
    [line] = quoted("grind adjustment", sentence)
    text = line.removeprefix("- ").removesuffix(" [1]")
    assert text.endswith(" …") and len(text) <= MAX_SENTENCE_CHARS + 2
    assert text.removesuffix(" …").split()[-1] in sentence.split()


def test_a_blob_without_spaces_is_not_quoted():
    assert quotable_sentences("x" * (MAX_SENTENCE_CHARS + 50)) == []


def test_hard_wrapped_plain_text_is_quoted_sentence_by_sentence():
    notes = ("Espresso brewing notes\n\nGrind size is the main adjustment. If the shot runs faster than 20\n"
             "seconds and tastes sour, grind finer.\n\nWater between 90 and 96 degrees suits most coffees.")
    assert [q.text for q in quotable_sentences(notes)] == [
        "Grind size is the main adjustment.",
        "If the shot runs faster than 20 seconds and tastes sour, grind finer.",
        "Water between 90 and 96 degrees suits most coffees."]
    assert quoted("espresso grind", notes)[0] == "- Grind size is the main adjustment. [1]"


def test_text_extracted_from_html_is_quoted_without_its_title_line():
    page = (b"<html><head><title>Leave policy</title></head><body><h1>Holidays</h1>"
            b"<p>Request holidays two weeks ahead in the HR portal.</p><ul><li>Sick days need no approval.</li></ul>"
            b"<table><tr><td>Annual leave</td><td>25 days</td></tr></table></body></html>")
    text = extract(page, "leave.html").text
    assert [q.text for q in quotable_sentences(text)] == [
        "Request holidays two weeks ahead in the HR portal.", "Sick days need no approval.", "Annual leave | 25 days"]
    assert quoted("How do I request holidays?", text)[0] == "- Request holidays two weeks ahead in the HR portal. [1]"


def test_nothing_that_matches_is_not_covered():
    assert extractive_answer("quantum chromodynamics", [Passage(GUIDE)]).text == NOT_COVERED
    assert extractive_answer("anything", [Passage("```\ncode only here\n```")]).text == NOT_COVERED


@pytest.mark.usefixtures("fresh_index")
def test_chat_api_answers_from_a_markdown_document_in_plain_sentences(api, user, settings):
    settings.RAG_MIN_SCORE = 0.0
    make_document("Sourdough bread is leavened by wild yeast and lactic acid bacteria.", title="Baking")
    make_document(GUIDE, title="Operations guide", filename="operations.md")
    session = make_session(user)
    response = api.post(f"/api/sessions/{session.id}/chat", {"message": "What is CHUNK_SIZE?"}, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()["assistant_message"]
    line = next(ln for ln in answer["content"].splitlines() if ln.startswith("- CHUNK_SIZE"))
    n = int(line.rsplit("[", 1)[1].rstrip("]"))
    assert line == f"- CHUNK_SIZE: 800 — tokens per chunk [{n}]"
    assert answer["content"].splitlines()[2] == f"CHUNK_SIZE is 800 [{n}]"  # the value asked for, named
    assert [(s["n"], s["document_title"]) for s in answer["sources"]] == [(n, "Operations guide")]
    assert not any(syntax in answer["content"] for syntax in ("|", "```", "**", "](", "- - ", "#"))

