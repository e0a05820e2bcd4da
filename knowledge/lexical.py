"""Words as retrieval sees them, and their stored form (the BM25 index over them is knowledge/bm25.py).

`terms()` is shared by the local embedder and the BM25 index so both see the same words: lower case,
stop words dropped, a light suffix stemmer so "indexes", "indexed" and "indexing" meet.

A chunk's terms are counted once, at ingest, and stored beside it (ChunkTerms, `pack_terms`), so that a
process starting cold builds its BM25 index from arrays instead of re-reading and re-tokenising every
text. The stored form, in one place:

    records of (uint64 term hash, uint16 count), little-endian, 10 bytes each, no padding;
    the first record is the header (0, TERMS_FORMAT); then one record per distinct term, sorted by hash.

A term's hash is the first 8 bytes of blake2b of its stem (stable across processes, unlike `hash()`).
64 bits, not 32: a knowledge base easily holds a million distinct terms (names, codes, numbers), and at
32 bits that would merge about a hundred pairs of them (birthday bound); at 64 bits the odds of a single
merge are ~1e-8. That costs 4 bytes per distinct term of a chunk. The header record makes every blob a
whole number of records, so a batch of blobs is decoded with one `np.frombuffer` over their
concatenation. A chunk without stored terms, or with a header of another TERMS_FORMAT ("computed by an
older tokeniser"), is tokenised from its text when the index loads it.
"""

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)

STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should so
some such than that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves may might must shall us s t
""".split())

# (suffix, replacement), longest first; applied once, only if a stem of 3+ characters remains.
_SUFFIXES = [
    ("ational", "ate"), ("ization", "ize"), ("fulness", "ful"), ("iveness", "ive"), ("ousness", "ous"),
    ("ations", "ate"), ("ation", "ate"), ("ingly", ""), ("ments", ""), ("ment", ""), ("ness", ""),
    ("ings", ""), ("ing", ""), ("ies", "y"), ("ied", "y"), ("edly", ""), ("ed", ""), ("ly", ""),
    ("es", ""), ("s", ""),
]

# Bump whenever terms() or term_hash() would give a text other terms: stored blobs of another format are
# then ignored (recomputed from the text at load) until `manage.py reindex` rewrites them.
TERMS_FORMAT = 1
_RECORD = np.dtype([("hash", "<u8"), ("count", "<u2")])
_HEADER = np.array([(0, TERMS_FORMAT)], dtype=_RECORD).tobytes()
_MAX_COUNT = np.iinfo(np.uint16).max  # a chunk of ~800 tokens never gets near it; clamped all the same


@lru_cache(maxsize=200_000)  # words are Zipf-distributed: most lookups are repeats
def stem(word: str) -> str:
    if len(word) <= 4 or word.endswith("ss"):
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: len(word) - len(suffix)] + replacement
    return word


@lru_cache(maxsize=20_000)
def word_forms(term: str) -> tuple[str, ...]:
    """Every word that `stem` turns into `term`: the term itself, or the term with one of the suffixes put back
    (stem strips at most one, so a word stems to `term` only as one of these)."""
    candidates = [term] + [term[: len(term) - len(replacement)] + suffix
                           for suffix, replacement in _SUFFIXES if term.endswith(replacement)]
    return tuple(dict.fromkeys(form for form in candidates if stem(form) == term))


def terms(text: str) -> list[str]:
    """The searchable words of `text`, in order."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1]


@lru_cache(maxsize=200_000)
def term_hash(term: str) -> int:
    """A term's stable 64-bit id (never 0: that value marks the header record)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little") or 1


def pack_terms(text: str) -> bytes:
    """The stored form of `text`'s term counts (the format is described at the top of this module)."""
    counts: Counter[int] = Counter()
    for term, count in Counter(terms(text)).items():
        counts[term_hash(term)] += count
    records = np.empty(len(counts) + 1, dtype=_RECORD)
    records[0] = (0, TERMS_FORMAT)
    if counts:
        hashes = np.fromiter(counts.keys(), dtype=np.uint64, count=len(counts))
        order = np.argsort(hashes)
        records["hash"][1:] = hashes[order]
        records["count"][1:] = np.minimum(np.fromiter(counts.values(), np.int64, len(counts))[order], _MAX_COUNT)
    return records.tobytes()


def is_current_terms(blob: bytes | memoryview | None) -> bool:
    """Whether `blob` holds terms packed by this version (else the text must be tokenised again)."""
    return blob is not None and len(blob) % _RECORD.itemsize == 0 and bytes(blob[:len(_HEADER)]) == _HEADER


def unpack_terms(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(term hashes as uint64, counts) of one packed blob."""
    _, hashes, counts = unpack_many([blob])
    return hashes, counts


def unpack_many(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(terms per blob, all hashes, all counts) of many packed blobs, decoded in one pass.

    Raises ValueError if any blob is not in the current format (check with `is_current_terms`).
    """
    sizes = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(blobs))
    if np.any(sizes % _RECORD.itemsize) or np.any(sizes == 0):
        raise ValueError("Not packed term counts of the current format.")
    records = np.frombuffer(b"".join(blobs), dtype=_RECORD)
    lengths = sizes // _RECORD.itemsize
    headers = np.cumsum(lengths) - lengths
    if np.any(records["hash"][headers] != 0) or np.any(records["count"][headers] != TERMS_FORMAT):
        raise ValueError("Not packed term counts of the current format.")
    body = np.ones(len(records), dtype=bool)
    body[headers] = False
    return lengths - 1, records["hash"][body], records["count"][body]
