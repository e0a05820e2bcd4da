"""The text of a PDF's pages -> text that reads as the pages do. Pure functions: no files, no settings.

A PDF stores lines, not paragraphs: a page's running header and footer come out as text, page numbers sit
between sentences, and a word hyphenated at a line's end is cut in two. Left in, they end up in chunks and
get quoted as answers ("Shared MIME-info Database is: [3]" was a page header). So:
- lines that repeat at the top or bottom of pages (headers, footers, "Page 3 of 10") are removed, and so is
  a lone page number at a page's edge;
- a word hyphenated across a line break is joined ("docu-" + "ment" -> "document"); soft hyphens go;
- a sentence wrapped across lines is put back on one line; paragraph and list breaks stay.
"""

import re
from collections import Counter

EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be a running header or footer
MIN_REPEATS = 3  # an edge line seen on this many pages (digits aside) is a header or footer

_PAGE_NUMBER = re.compile(r"^[\W_]*(?:page\s+)?\d{1,5}(?:\s*(?:of|/)\s*\d{1,5})?[\W_]*$", re.IGNORECASE)
_HYPHENATED = re.compile(r"(?<=[^\W\d_])-\n[ \t]*(?=[a-z])")
_WRAPPED = re.compile(r"(?<=[^\W_]|[,;])[ \t]*\n[ \t]*(?=[a-z(])")


def clean_pages(pages: list[str]) -> list[str]:
    """Each page's text without running headers, footers and page numbers, with words and lines rejoined."""
    running = running_lines(pages)
    return [join_lines(_drop_edges(page, running)) for page in pages]


def running_lines(pages: list[str]) -> set[str]:
    """Keys (see `line_key`) of the lines that repeat at the edges of at least MIN_REPEATS pages."""
    if len(pages) < MIN_REPEATS:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        seen.update({line_key(line) for line in _edges(_lines(page))})
    return {key for key, count in seen.items() if count >= MIN_REPEATS and key}


def line_key(line: str) -> str:
    """A line as compared across pages: case and spacing ignored, every number the same ("Page 3" = "Page 4")."""
    return re.sub(r"\d+", "#", " ".join(line.lower().split()))


def join_lines(text: str) -> str:
    """Rejoin words hyphenated at a line's end and sentences wrapped across lines; keep blank lines and lists."""
    text = text.replace("\u00ad", "")
    text = _HYPHENATED.sub("", text)
    return _WRAPPED.sub(" ", text)


def _lines(page: str) -> list[str]:
    return [line for line in page.splitlines() if line.strip()]


def _edges(lines: list[str]) -> list[str]:
    """Lines that may be a header or footer: none on a page of one or two lines (it is all body, or a title)."""
    if len(lines) < 3:
        return []
    return lines[:EDGE_LINES] + lines[-EDGE_LINES:]


def _drop_edges(page: str, running: set[str]) -> str:
    lines = page.splitlines()
    filled = [i for i, line in enumerate(lines) if line.strip()]
    edge = set(_edges(filled))
    outer = set(filled[:1] + filled[-1:])  # a lone number is a page number only on the very first or last line
    kept = [line for i, line in enumerate(lines)
            if not (i in edge and line_key(line) in running) and not (i in outer and _PAGE_NUMBER.match(line.strip()))]
    return "\n".join(kept).strip()
