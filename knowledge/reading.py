"""The reader's view of a document: a window of its extracted text, a few chunks long, with the chunks and the
pages that fall in it, so that a citation opens at its passage.

A document's text may be millions of characters, so the reader never gets it whole: a window runs from the start
of one chunk to the start of the chunk after its last (chunks overlap, so windows are cut at chunk starts and
tile the text without repeating any of it), and only the window's characters leave the database (SUBSTR).
The window around a cited chunk starts a couple of chunks before it; `previous`/`next` windows tile the rest.
"""

import bisect
from dataclasses import dataclass, field

from django.db.models.functions import Length, Substr

from knowledge.models import Chunk, Document

WINDOW_CHUNKS = 8  # chunks per window, unless asked for up to MAX_WINDOW_CHUNKS
MAX_WINDOW_CHUNKS = 50
CHUNKS_BEFORE = 2  # context shown above a cited chunk


class PassageNotFound(Exception):
    """No chunk with that id (or at that position) in this document: it was re-chunked, or never was."""


class NotReadable(Exception):
    """The document is not ready: it has no chunks to show yet (or its reading failed)."""


@dataclass
class Window:
    document: Document
    text: str
    start_char: int
    end_char: int
    length: int  # characters in the whole text
    first_position: int
    chunk_count: int
    chunks: list[Chunk]
    pages: list[dict] = field(default_factory=list)  # [{page, start_char}]: the page at start_char, then each new one
    cited: Chunk | None = None
    previous: tuple[int, int] | None = None  # (position, count) of the window before, or None
    next: tuple[int, int] | None = None


def text_window(*, document: Document, chunk_id: int | None = None, position: int | None = None,
                count: int = WINDOW_CHUNKS) -> Window:
    """The window around chunk `chunk_id` (a couple of chunks of context before it), or from chunk `position`."""
    if document.status != Document.Status.READY or not document.chunk_count:
        raise NotReadable("The document is not ready, so it has no passages to show yet.")
    count = max(1, min(count, MAX_WINDOW_CHUNKS))
    cited = None
    if chunk_id is not None:
        cited = Chunk.objects.filter(document=document, pk=chunk_id).only("id", "position").first()
        if cited is None:
            raise PassageNotFound("That passage is not in this document (any more).")
        first = max(0, cited.position - CHUNKS_BEFORE)
    else:
        first = position or 0
    rows = list(Chunk.objects.filter(document=document, position__gte=first, position__lte=first + count)
                .only("id", "position", "start_char", "end_char", "page").order_by("position"))
    if not rows or rows[0].position != first:
        raise PassageNotFound("The document has no passage at that position.")
    chunks, after = (rows[:-1], rows[-1]) if len(rows) > count else (rows, None)
    held = (Document.objects.filter(pk=document.pk)
            .annotate(length=Length("text")).values_list("length", "page_starts").get())
    length, page_starts = held
    start = 0 if first == 0 else chunks[0].start_char
    end = after.start_char if after is not None else length
    text = ""
    if end > start:
        text = (Document.objects.filter(pk=document.pk)
                .annotate(window=Substr("text", start + 1, end - start)).values_list("window", flat=True).get())
    previous_first = max(0, first - count)
    return Window(
        document=document, text=text, start_char=start, end_char=end, length=length, first_position=first,
        chunk_count=document.chunk_count, chunks=chunks, pages=_pages(page_starts or [], start, end),
        cited=next((c for c in chunks if cited is not None and c.pk == cited.pk), None),
        previous=(previous_first, first - previous_first) if first > 0 else None,
        next=(after.position, count) if after is not None else None,
    )


def _pages(page_starts: list[int], start: int, end: int) -> list[dict]:
    """The page the window starts on, then each page that begins inside it (1-based numbers)."""
    if not page_starts:
        return []
    first = max(1, bisect.bisect_right(page_starts, start))
    pages = [{"page": first, "start_char": page_starts[first - 1] if first - 1 < len(page_starts) else start}]
    for number in range(first + 1, len(page_starts) + 1):
        offset = page_starts[number - 1]
        if offset >= end:
            break
        pages.append({"page": number, "start_char": offset})
    return pages
