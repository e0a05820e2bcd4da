"""The offline answer: the sentences of the retrieved passages that best answer a question, each cited.

Used by chat.llm.OfflineBackend when no language model is configured. Pure functions: no database; the
meaning of sentences comes from a `similarity` function the caller passes (the local embedding model), and
without one the answer is chosen by shared words alone. Passages are mostly Markdown, so quotes are taken
from their prose: code blocks are skipped, table rows read as "first cell: other cells", and heading, list,
quote, emphasis and link syntax is stripped.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.lexical import terms

OFFLINE_PREFIX = "Offline answer (no language model is configured), quoted from the knowledge base:"
NOT_COVERED = ("The knowledge base does not cover this question: no document passage matches it closely "
               "enough. Try other words, or add a document that answers it.")

MAX_SENTENCES = 3
MAX_SENTENCE_CHARS = 400
HEADING_WEIGHT = 0.5  # a question word found only in the sentence's section heading counts half
KEEP_SHARE = 0.5  # a runner-up sentence is quoted only if it scores at least half as well as the best
# With a similarity function (cosine of question and sentence, the local model's): a sentence below
# MIN_SIMILARITY does not address the question, and the question is not covered when no sentence reaches
# it (bench/answer_quality.py: the best sentence of a covered question 0.39-0.84, of an off-topic one
# 0.11-0.34; a small set, so the margin is thin). Shared
# words add up to LEXICAL_BONUS, so an exact name or code still wins among sentences of similar meaning.
MIN_SIMILARITY = 0.35
LEXICAL_BONUS = 0.15
NAMED_VALUE_SIMILARITY = 0.45  # a sentence this close by meaning may name the value without sharing words
RUNNER_UP_SHARE = 0.75
# A sentence that holds the kind of answer asked for (a year or date for "when", a number for "how many")
# gains this much with a similarity: MiniLM ranks "The tower is in Paris" above "It was completed in 1889"
# for "When was the tower completed?", as both are about the tower.
ANSWER_TYPE_BONUS = 0.1  # with a similarity: a runner-up must come within this share of the best's similarity

Similarity = Callable[[str, list[str]], np.ndarray]  # (question, sentences) -> cosine per sentence


@dataclass(frozen=True)
class Quote:
    """A sentence worth quoting, as plain text, and the heading (or table header) it sits under."""

    text: str
    heading: str = ""
    paragraph: int = 0  # which paragraph, list item or table row of the passage it comes from


@dataclass(frozen=True)
class OfflineAnswer:
    text: str
    used: list[int]  # the numbers of the passages the answer cites; none when it is not covered


@dataclass(eq=False)
class _Candidate:
    n: int  # the number of its passage, as cited
    quote: Quote
    words: set[str]
    heading_words: set[str]  # words of its heading that the sentence itself does not hold
    score: float = 0.0
    similarity: float | None = None


def extractive_answer(question: str, passages: Sequence, similarity: Similarity | None = None) -> OfflineAnswer:
    """The sentences of the passages that best answer `question`, each cited by its passage's number.

    `passages` are the retrieved hits in order ([1], [2], ...): `.text`, and `.position` (a passage that
    is not the start of its document may begin mid-sentence: that fragment is never quoted).

    A sentence's words score the idf-weighted question words it contains (idf over the candidate sentences,
    so a word every sentence has counts little; a word only in its section's heading counts half), divided
    by a gentle length penalty and discounted a little by its passage's rank. With `similarity`, a sentence
    scores its cosine with the question plus up to LEXICAL_BONUS for its words, and a sentence under
    MIN_SIMILARITY is never quoted: "25 days of paid holiday" answers "how much vacation do I get?" with no
    word in common, and a sentence that merely shares a word does not. Without it, a sentence must share a
    word. A runner-up is quoted only if it comes close to the best; when nothing qualifies, the passages do
    not cover the question and the answer cites none.
    """
    wanted = _words(question)
    candidates = _candidates(passages)
    _score(question, wanted, candidates, similarity)
    eligible = [c for c in candidates if _addresses(c, wanted)]
    ranked = sorted(eligible, key=lambda c: c.score, reverse=True)
    if not ranked:
        return OfflineAnswer(NOT_COVERED, [])
    top = ranked[0]
    # The sentences right after the best one in its paragraph often carry its answer on ("Grind size is the
    # main adjustment. If the shot runs fast, grind finer."): they may join it while they address the question.
    followers = []
    for c in candidates[candidates.index(top) + 1:]:
        if (c.n, c.quote.paragraph) != (top.n, top.quote.paragraph) or c not in eligible:
            break
        followers.append(c)
    runners_up = [c for c in ranked[1:] if _close(c, top) and c not in followers]
    chosen = [top, *sorted(followers + runners_up, key=lambda c: c.score, reverse=True)[: MAX_SENTENCES - 1]]
    lines = [f"- {c.quote.text} [{c.n}]" for c in chosen]
    value = named_value(question, top.quote.text,
                        relevant=top.similarity is not None and top.similarity >= NAMED_VALUE_SIMILARITY)
    lead = [f"{value} [{top.n}]", ""] if value else []
    return OfflineAnswer(OFFLINE_PREFIX + "\n\n" + "\n".join(lead + lines), sorted({c.n for c in chosen}))


def _score(question: str, wanted: set[str], candidates: list[_Candidate], similarity: Similarity | None) -> None:
    df = {w: sum(1 for c in candidates if w in c.words) for w in wanted}
    idf = {w: math.log(1 + len(candidates) / (1 + count)) for w, count in df.items()}
    for c in candidates:
        matched = sum(idf[w] for w in wanted & c.words) + HEADING_WEIGHT * sum(idf[w] for w in wanted & c.heading_words)
        c.score = matched / (1 + 0.02 * len(c.words)) / (1 + 0.1 * (c.n - 1))
    if similarity is None or not candidates:
        return
    best_words = max(c.score for c in candidates) or 1.0
    cosines = similarity(question, [f"{c.quote.heading}: {c.quote.text}" if c.quote.heading else c.quote.text
                                    for c in candidates])
    wants = _answer_type(question)
    for c, cosine in zip(candidates, cosines, strict=True):
        c.similarity = float(cosine)
        typed = ANSWER_TYPE_BONUS if wants is not None and wants.search(c.quote.text) else 0.0
        c.score = c.similarity + LEXICAL_BONUS * c.score / best_words + typed - 0.01 * (c.n - 1)


_WHEN = re.compile(r"\b(1[5-9]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|october|"
                   r"november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|\d{1,2}:\d\d)\b",
                   re.I)
_HOW_MUCH = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|hundred)\b", re.I)


def _answer_type(question: str) -> re.Pattern | None:
    """What an answer to `question` holds: a date or time for "when", a number for "how many" and the like."""
    if re.match(r"\s*(when|what (year|date|time|day))\b", question, re.I):
        return _WHEN
    if _HOW_QUESTION.match(question):
        return _HOW_MUCH
    return None


def _addresses(c: _Candidate, wanted: set[str]) -> bool:
    if c.similarity is None:
        return c.score > 0 and bool(wanted & (c.words | c.heading_words))
    return c.similarity >= MIN_SIMILARITY


def _close(c: _Candidate, top: _Candidate) -> bool:
    """Whether a runner-up answers nearly as well as the best sentence."""
    if c.similarity is None:
        return c.score >= KEEP_SHARE * top.score
    return c.similarity >= max(MIN_SIMILARITY, RUNNER_UP_SHARE * top.similarity)


def _candidates(passages: Sequence) -> list[_Candidate]:
    """Every quotable sentence of the passages in order, each once (overlapping chunks repeat sentences)."""
    seen: set[str] = set()
    candidates = []
    for n, passage in enumerate(passages, start=1):
        for quote in quotable_sentences(passage.text, mid_document=passage.position > 0):
            key = " ".join(quote.text.casefold().split())
            if key not in seen:
                seen.add(key)
                words = _words(quote.text)
                candidates.append(_Candidate(n, quote, words, _words(quote.heading) - words))
    return candidates


_WHAT_QUESTION = re.compile(r"^\s*(?:what|which)(?:'s|\s+(is|are|was|were))\s+(.+?)[\s?.!]*$", re.I)
_HOW_QUESTION = re.compile(r"^\s*how\s+(many|much|long|large|big|old|often|fast|far|high|low)\b", re.I)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:\s*(?:to|and|-|–)\s*\d[\d,]*(?:\.\d+)?)?"
                     r"(?:\s*(%|[A-Za-z][\w/]*))?")
_TIME_UNITS = frozenset(terms("second seconds minute minutes hour hours day days week weeks month months year years"))
_NOT_UNITS = frozenset("a an the is are was were and or to of in on at for by with per if when it".split())


def named_value(question: str, sentence: str, *, relevant: bool = False) -> str:
    """A lead line that names the value asked for, when `sentence` holds it; "" when unsure.

    "What is the default weight value?" + "The weight defaults to 50." -> "The default weight value is 50";
    "How many days of leave do I get?" + "Everyone gets 25 days of paid leave." -> "25 days". The value is
    the number (with its unit) after the question's words in the sentence (for "how long", one with a unit
    of time; one whose unit the question names first), or for a table row ("CHUNK_SIZE: 800 — tokens per
    chunk") the cell after the name. Only when the sentence holds most of the question's words, or is
    `relevant` by meaning (the best answer by the model), so the line never states what the sentence does not.
    """
    what, how = _WHAT_QUESTION.match(question), _HOW_QUESTION.match(question)
    if not (what or how):
        return ""
    asked = _words(question) - {"default", "much", "many", "long"}
    if not relevant and (not asked or len(asked & _words(sentence)) < max(1, math.ceil(len(asked) / 2))):
        return ""
    value = ""
    name, sep, rest = sentence.partition(": ")
    if sep and what and _words(name) and _words(name) <= asked | _words(what.group(2)):
        value = rest.split(" — ")[0].strip()
    if not value:
        value = _number(sentence, asked, duration=bool(how) and how.group(1).lower() == "long")
    if not value or len(value.split()) > 6:
        return ""
    if how:
        return value
    subject = what.group(2).strip()
    return f"{subject[0].upper()}{subject[1:]} {(what.group(1) or 'is').lower()} {value}"


def _number(sentence: str, asked: set[str], *, duration: bool) -> str:
    """The number (and its unit) that best fits the question in `sentence`, or ""."""
    anchors = [m.end() for m in re.finditer(r"\w+", sentence) if _words(m.group()) & asked]
    last = max(anchors, default=0)
    best, best_key = "", None
    for m in _NUMBER.finditer(sentence):
        unit = (m.group(1) or "").lower()
        value = m.group(0) if unit not in _NOT_UNITS else m.group(0)[: m.start(1) - m.start()].strip()
        unit_terms = set(terms(unit))
        key = (bool(unit_terms & _TIME_UNITS) if duration else bool(unit_terms & asked), m.start() >= last,
               -abs(m.start() - last))
        if best_key is None or key > best_key:
            best, best_key = value.rstrip(".,;:"), key
    return best


def _words(text: str) -> set[str]:
    """Search terms, with identifiers also split at underscores: OPENAI_CHAT_MODEL answers "chat model"."""
    return set(terms(text)) | set(terms(text.replace("_", " ")))


# Passages are Markdown, plain text or text extracted from HTML/PDF/Word. Quotes are taken from the prose
# only: code blocks are skipped, and Markdown syntax is removed so that a quote reads as a sentence.
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*(.*)$")
_ATX_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
_SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s+)?(.*)$")
_BLOCKQUOTE = re.compile(r"^\s{0,3}>\s?")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=\S)")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|incl|fig|dr|mr|mrs|ms)|(?<!\w)\w)\.$", re.I)
_SENTENCE_PUNCTUATION = re.compile(r"[.!?:;]['\")\]]*$")
_SENTENCE_END = re.compile(r"[.!?:)]['\")\]]*\s*$")
_MID_SENTENCE = re.compile(r"[a-z,;)\]]")  # how a sentence never begins (a name like "ragchat" aside)
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_LINK = re.compile(r"!?\[([^\]\n]*)\](?:\([^)\s]*(?:\s+\"[^\"]*\")?\)|\[[^\]\n]*\])")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_EMPHASIS = (
    re.compile(r"(\*\*|~~)(?=\S)(.+?)(?<=\S)\1"),
    re.compile(r"(?<!\w)(__)(?=\S)(.+?)(?<=\S)__(?!\w)"),
    re.compile(r"(?<![\w*])(\*)(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"),
    re.compile(r"(?<![\w_])(_)(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])"),
)
_SOURCE_NUMBER = re.compile(r"\[\d{1,3}\](?!\()")  # "[2]" in a document is not our citation [2]
_MARKDOWN_IN_CODE = re.compile(r"[*`\[\]]|(?<!\w)_|_(?!\w)")  # would render as emphasis, a link or a citation


def quotable_sentences(text: str, *, mid_document: bool = False) -> list[Quote]:
    """The sentences of a passage worth quoting, as plain text.

    Not quoted: headings and bare title lines (they become the heading of what follows), fragments under
    four words (three in a list item), code blocks, table header and separator rows. A table row becomes
    "first cell: other cells" when it has at least two non-empty cells.

    `mid_document`: the passage is a chunk that does not start its document. Chunks overlap and may start
    at a line of hard-wrapped text, so one that begins with a lower-case word or a comma begins mid-sentence:
    that fragment is not quoted (nor a last paragraph cut before its sentence ends, in any passage).
    """
    quotes: list[Quote] = []
    blocks = _blocks(text)
    for paragraph, (kind, block, heading) in enumerate(blocks):
        if kind == "row":
            quotes.append(Quote(block, heading, paragraph))
            continue
        min_words = 3 if kind == "item" else 4
        code_spans: list[str] = []
        parts = _split_sentences(_plain(block, code_spans))
        if paragraph == 0 and kind == "prose" and mid_document and _MID_SENTENCE.match(text.lstrip()):
            parts = parts[1:]
        if paragraph == len(blocks) - 1 and kind == "prose" and len(parts) > 1 \
                and not _SENTENCE_END.search(parts[-1]):
            parts = parts[:-1]  # the passage ends before its last sentence does
        for part in parts:
            sentence = _clip(_restore_code(part, code_spans))
            if sentence and len(sentence.split()) >= min_words:
                quotes.append(Quote(sentence, heading, paragraph))
    return quotes


def _split_sentences(text: str) -> list[str]:
    """Sentences end at . ! or ? before a space, except after an abbreviation or an initial ("e.g.", "J.")."""
    parts, start = [], 0
    for match in _SENTENCE_BREAK.finditer(text):
        following = text[match.end()]
        abbreviation = _ABBREVIATION.search(text, max(0, match.start() - 8), match.start())
        if (following.isalnum() or following in "\"'([\x00") and not abbreviation:
            parts.append(text[start:match.start()])
            start = match.end()
    parts.append(text[start:])
    return parts


def _blocks(text: str) -> list[tuple[str, str, str]]:
    """(kind, text, heading) for each paragraph ("prose"), list item ("item") and table row ("row")."""
    lines = text.splitlines()
    code = _code_lines(lines)
    blocks: list[tuple[str, str, str]] = []
    heading, kind, paragraph = "", "prose", []
    header, in_table = "", False  # the header row of the table being read

    def flush() -> None:
        nonlocal heading, kind, paragraph
        joined = " ".join(paragraph)
        # A lone short line without a sentence's punctuation is a title (plain text, HTML, PDF), not prose;
        # an HTML table row ("a | b | c") is not a title.
        if kind == "prose" and len(paragraph) == 1 and len(joined.split()) <= 10 \
                and not _SENTENCE_PUNCTUATION.search(joined) and "|" not in joined:
            heading = _plain(joined)
        elif paragraph:
            blocks.append((kind, joined, heading))
        kind, paragraph = "prose", []

    for i, raw in enumerate(lines):
        if i in code:
            flush()
            continue
        line = raw
        while _BLOCKQUOTE.match(line):
            line = _BLOCKQUOTE.sub("", line, count=1)
        following = lines[i + 1] if i + 1 < len(lines) and i + 1 not in code else ""
        starts_table = "|" in line and _is_table_separator(following)
        in_table = in_table and "|" in line
        if not line.strip():
            flush()
        elif _is_table_separator(line):
            continue
        elif starts_table or in_table or line.lstrip().startswith("|"):
            flush()
            cells = [_plain(cell).strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if starts_table:
                header, in_table = " ".join(cells), True
                continue
            filled = [cell for cell in cells if cell]
            row = _clip(f"{cells[0]}: {' — '.join(filled[1:])}") if len(filled) >= 2 and cells[0] else ""
            if row:
                blocks.append(("row", row, f"{heading} {header}"))
        elif match := _ATX_HEADING.match(line):
            flush()
            heading, header = _plain(match.group(1) or ""), ""
        elif _SETEXT_UNDERLINE.match(line) and kind == "prose" and len(paragraph) == 1:
            heading, paragraph = _plain(paragraph[0]), []
        elif _RULE.match(line):
            flush()
        elif match := _LIST_ITEM.match(line):
            flush()
            kind, paragraph = "item", [match.group(1).strip()]
        else:
            paragraph.append(line.strip())
    flush()
    return blocks


def _is_table_separator(line: str) -> bool:
    return "|" in line and bool(_TABLE_SEPARATOR.match(line))


def _code_lines(lines: list[str]) -> set[int]:
    """Indices of the lines in fenced code blocks, fences included.

    A passage is a chunk of a document, so it may begin inside a code block (the chunk before held the
    opening fence). With an odd number of bare fences that is decided by which end looks less like prose.
    """
    fences = [i for i, line in enumerate(lines) if _FENCE.match(line)]
    inside = False
    if len(fences) % 2 and not any(_FENCE.match(lines[i]).group(2) for i in (fences[0], fences[-1])):
        head, tail = _prose_share(lines[: fences[0]]), _prose_share(lines[fences[-1] + 1:])
        inside = head is not None and head < (0.5 if tail is None else tail)
    code, marker = set(), ""
    for i, line in enumerate(lines):
        fence = _FENCE.match(line)
        if inside:
            code.add(i)
            closes = fence and not fence.group(2) and (not marker or fence.group(1).startswith(marker))
            inside = not closes
        elif fence:
            code.add(i)
            inside, marker = True, fence.group(1)
    return code


def _prose_share(lines: list[str]) -> float | None:
    """The share of whitespace-separated tokens that are plain words; None for no tokens."""
    tokens = " ".join(lines).split()
    if not tokens:
        return None
    return sum(1 for t in tokens if re.fullmatch(r"[A-Za-z][a-z'-]*[,.;:!?]?", t)) / len(tokens)


def _plain(markdown: str, code_spans: list[str] | None = None) -> str:
    """`markdown` inline text without its syntax: emphasis, links (their text stays) and code backticks.

    A code span whose text the UI's Markdown would misread (`__init__.py`, `*.md`, `[1]`) keeps its
    backticks. With `code_spans`, code is left as placeholders (restored by `_restore_code`), so that
    periods inside code do not end a sentence.
    """
    spans = [] if code_spans is None else code_spans

    def hold(code: str) -> str:
        spans.append(f"`{code}`" if _MARKDOWN_IN_CODE.search(code) else code)
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE_SPAN.sub(lambda m: hold(m.group(2).strip() or m.group(2)), markdown.replace("\x00", ""))
    text = _SOURCE_NUMBER.sub(lambda m: hold(m.group(0)), text)
    text = _AUTOLINK.sub(r"\1", _LINK.sub(r"\1", text))
    for pattern in _EMPHASIS:
        while True:
            text, count = pattern.subn(r"\2", text)
            if not count:
                break
    return text if code_spans is not None else _restore_code(text, spans)


def _restore_code(text: str, code_spans: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: code_spans[int(m.group(1))], text)


def _clip(sentence: str) -> str:
    """At most MAX_SENTENCE_CHARS, cut between words; "" for a blob that has no place to cut."""
    sentence = " ".join(sentence.split())
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    cut = sentence[: MAX_SENTENCE_CHARS + 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:—") + " …" if " " in sentence[: MAX_SENTENCE_CHARS + 1] else ""
