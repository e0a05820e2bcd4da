"""Text -> overlapping chunks of about `size` tokens, cut on paragraph and sentence boundaries.

Pure functions: text in, chunks out; no database, no settings.

Tokens are *estimated* (tiktoken downloads its tables and does not work offline): one token per run of
up to 6 word characters and one per punctuation mark or symbol. "Knowledge-base" is 4 tokens
("Knowle", "dge", "-", "base"); "internationalisation" is 4. English prose comes out at ~1.3 tokens per
word, close to what OpenAI's BPE tokenisers count, and no token spans more than 6 characters, so a
chunk of `size` tokens is bounded in characters too (a minified blob cannot become one huge "token").
"""

import bisect
import re
from dataclasses import dataclass

TOKEN = re.compile(r"\w{1,6}|[^\w\s]", re.UNICODE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A line break, or whitespace after a sentence's end (a closing quote or bracket stays with the sentence).
_LINE_OR_SENTENCE_END = re.compile(r"\n|(?<=[.!?。！？])\s+|(?<=[.!?。！？][\"')\]])\s+")


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN.finditer(text))


@dataclass(frozen=True)
class TextChunk:
    position: int
    text: str
    start_char: int  # [start_char, end_char) in the source text; text == source[start_char:end_char]
    end_char: int
    token_count: int
    page: int | None = None  # 1-based page where the chunk starts, when the source has pages


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    starts_paragraph: bool


def _split(text: str, start: int, end: int, separator: re.Pattern) -> list[tuple[int, int]]:
    """Non-blank [start, end) pieces of text[start:end] between matches of `separator`, whitespace-trimmed."""
    pieces = []
    cursor = start
    for match in separator.finditer(text, start, end):
        pieces.append((cursor, match.start()))
        cursor = match.end()
    pieces.append((cursor, end))
    out = []
    for a, b in pieces:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


def _units(text: str, size: int) -> list[_Unit]:
    """Sentences (and lines) with their token counts; a sentence longer than `size` is cut by tokens."""
    units: list[_Unit] = []
    for p_start, p_end in _split(text, 0, len(text), _PARAGRAPH_BREAK):
        first = True
        for s_start, s_end in _split(text, p_start, p_end, _LINE_OR_SENTENCE_END):
            tokens = [m.span() for m in TOKEN.finditer(text, s_start, s_end)]
            if not tokens:
                continue
            for i in range(0, len(tokens), size):
                window = tokens[i:i + size]
                a = s_start if i == 0 else window[0][0]
                b = s_end if i + size >= len(tokens) else window[-1][1]
                units.append(_Unit(a, b, len(window), first))
                first = False
    return units


def chunk_text(text: str, *, size: int = 800, overlap: int = 100,
               page_starts: list[int] | tuple[int, ...] = ()) -> list[TextChunk]:
    """Cut `text` into chunks of at most `size` tokens, each repeating ~`overlap` tokens of the previous one.

    A chunk ends at a sentence boundary; it ends at a paragraph boundary instead when one falls in
    its last 40%. `page_starts` are the offsets where pages begin (PDF), giving each chunk its page.
    """
    if size < 1:
        raise ValueError("size must be at least 1 token")
    overlap = max(0, min(overlap, size // 2))
    units = _units(text, size)
    chunks: list[TextChunk] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j].tokens <= size):
            total += units[j].tokens
            j += 1
        if j < len(units):
            running, best = 0, None
            for k in range(i, j):
                if k > i and units[k].starts_paragraph and running >= 0.6 * size:
                    best = k
                running += units[k].tokens
            if best is not None:
                j = best
        start, end = units[i].start, units[j - 1].end
        piece = text[start:end]
        page = bisect.bisect_right(page_starts, start) if page_starts else None
        chunks.append(TextChunk(len(chunks), piece, start, end, count_tokens(piece), page or None))
        if j >= len(units):
            break
        k, carried = j, 0
        while k - 1 > i and carried + units[k - 1].tokens <= overlap:
            k -= 1
            carried += units[k].tokens
        i = k
    return chunks
