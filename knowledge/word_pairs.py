"""The query's words in the query's order: re-scoring the best fused hits by the query's word pairs they hold.

BM25 counts words wherever they stand, so a chunk that scatters the query's words scores like one that holds
them in the query's order. Here the best RESCORE_DEPTH hits of the fused ranking get a bonus for the pairs of
consecutive query terms (knowledge/lexical.terms: stemmed, stop words left out) that stand in their text in
that order, side by side or with one other word between: a quoted phrase, or a sentence half remembered,
then finds the passage it came from. Only those hits' texts are read, by the query that fetches the hits
(stored_rows.fetch_hits), so the index holds no pairs and loading or syncing it costs nothing more.

A chunk's words are not stemmed here: the query's terms are turned back into every word form that stems to
them (lexical.word_forms), and the chunk's words become one character each (a query term's own, nothing for
a stop word or a one-character word, "." for any other word), so a pair is two characters side by side (or
one apart), found by one regular expression: string work done in C instead of a Python step per word. An
ASCII text (most of them) is split as bytes, ~3x faster than the regular expression; both give the words of
`terms()`, unstemmed (tests/test_word_pairs.py checks the pairs against it).
"""

import dataclasses
import os
import re
from itertools import repeat
from typing import NamedTuple

from knowledge.lexical import STOP_WORDS, word_forms
from knowledge.ranking import Hit

# Chosen on the dev half of each set of bench/retrieval_quality.py (mean nDCG@10), the test half reported.
RESCORE_DEPTH = 20  # the best fused hits that are re-scored; the rest keep their places behind them
PAIR_WEIGHT = 2.0  # the bonus, in fused z-score units, of a chunk holding all the query's pairs
# A pair counts side by side or with one other word between (stop words are not counted): a half-remembered
# sentence leaves words out. Strict neighbours only: cloze 0.899 on the test half, below plain BM25.

_LONG_WORD = re.compile(r"\w\w+", re.UNICODE)  # the words terms() keeps: one-character ones are dropped
# ASCII: \w is a letter, a digit or "_"; every other byte separates words.
_ASCII_SEPARATORS = bytes(b if (chr(b).isalnum() or chr(b) == "_") and b < 128 else 32 for b in range(256))
_DROPPED = {word.encode(): "" for word in STOP_WORDS} | {chr(c).encode(): "" for c in range(128)}
_OTHER = "."  # any word that is neither a query term nor dropped: it parts its neighbours


class Pair(NamedTuple):
    first: str  # the codes of its two terms
    second: str
    near: re.Pattern  # finds it in a coded text: side by side, or any one word between


@dataclasses.dataclass(frozen=True)
class QueryPairs:
    """A query's pairs of consecutive terms, the code of every word form of its terms, and what each term's
    forms begin with (a text that does not hold that holds no form of the term)."""

    pairs: frozenset[Pair]
    codes: dict[bytes, str]
    beginnings: tuple[tuple[str, str], ...]  # (a term's code, the beginning its forms share)

    @property
    def least_terms(self) -> int:
        """The fewest distinct query terms a text holds that holds a pair (one: a pair of a repeated term)."""
        return 1 if any(pair.first == pair.second for pair in self.pairs) else 2

    def found_in(self, text: str) -> int:
        """How many of the pairs stand in `text` in their order, side by side or one other word apart."""
        lowered = text.lower()
        held = {code for code, beginning in self.beginnings if beginning in lowered}
        pairs = [pair for pair in self.pairs if pair.first in held and pair.second in held]
        if not pairs:  # most candidates: no need to read their words
            return 0
        if lowered.isascii():
            words = lowered.encode().translate(_ASCII_SEPARATORS).split()
        else:
            words = [word.encode() for word in _LONG_WORD.findall(lowered)]
        coded = "".join(map(self.codes.get, words, repeat(_OTHER)))
        return sum(pair.near.search(coded) is not None for pair in pairs)


def query_pairs(words: list[str]) -> QueryPairs | None:
    """The pairs of `words` (a query's terms, in order); None for fewer than two terms."""
    if len(words) < 2:
        return None
    code = {term: chr(0x100 + i) for i, term in enumerate(dict.fromkeys(words))}
    codes = {form.encode(): code[term] for term in code for form in word_forms(term)}
    codes.update(_DROPPED)
    # One pattern per pair, not a substring per possible word between: a 500-character query of short words has
    # ~160 terms, and testing each pair's ~160 substrings against 20 texts took a quarter of a second.
    pairs = {Pair(code[a], code[b], re.compile(f"{re.escape(code[a])}.?{re.escape(code[b])}", re.DOTALL))
             for a, b in zip(words, words[1:], strict=False)}
    beginnings = tuple((code[term], os.path.commonprefix(word_forms(term))) for term in code)
    return QueryPairs(frozenset(pairs), codes, beginnings)


def worth_reading(rows: list[int], k: int, terms_held, pairs: QueryPairs) -> list[int]:
    """Which of `rows` (best fused first; positions in the list) a search reads: the first k, and past them only
    rows that hold as many of the query's terms (`terms_held`, by row) as a pair needs. A bonus is never
    negative, so only a hit that holds a pair can rise into the first k; on MariaDB each random row read costs
    ~0.1 ms of the server's time."""
    return [i for i, row in enumerate(rows) if i < k or terms_held[row] >= pairs.least_terms]


def rescored(hits: list[Hit], pairs: QueryPairs) -> list[Hit]:
    """`hits` (best fused first) with the first RESCORE_DEPTH re-ranked by score + PAIR_WEIGHT x the share of
    the query's pairs each holds. A bonus is never negative, so each re-scored hit still scores at least as high
    as the hits behind them, and the top k of a search are the first k of a deeper one."""
    bonus = PAIR_WEIGHT / len(pairs.pairs)
    head = hits[:RESCORE_DEPTH]
    for i, hit in enumerate(head):
        if found := pairs.found_in(hit.text):
            head[i] = dataclasses.replace(hit, score=round(hit.score + bonus * found, 4))
    head.sort(key=lambda hit: -hit.score)  # stable: ties keep the fused order
    return head + hits[RESCORE_DEPTH:]
