"""Embedding backends behind one small interface, chosen by settings.EMBEDDING_BACKEND.

    embedder = get_embedder()
    matrix = embedder.embed(["text", ...])   # float32, shape (n, embedder.dims), rows L2-normalised
    embedder.model                            # recorded on every Chunk as embedding_model

`local` is deterministic numpy with no download (the offline default); `openai` calls any
OpenAI-compatible server through ragchat.openai_client.
"""

import hashlib
from functools import lru_cache
from typing import Protocol

import numpy as np
from django.conf import settings

from knowledge.lexical import terms
from ragchat import openai_client


class Embedder(Protocol):
    model: str
    dims: int
    # False for a bag of hashed words: two texts can only be close by sharing words, so a match without a
    # shared word is a hash collision, and the index drops it (knowledge/index.py).
    semantic: bool

    def embed(self, texts: list[str]) -> np.ndarray: ...

    # A query's vector; `weights` (each query word's idf, or None) matter only to an embedder of words.
    def embed_query(self, text: str, weights: dict[str, float] | None) -> np.ndarray: ...


def normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


class LocalEmbedder:
    """Feature hashing of stemmed content words and word bigrams, with sublinear term frequency.

    Stop words are dropped and words stemmed (knowledge.lexical.terms) so that the vector weighs what a
    passage is about, not "the" and "of"; bigrams keep some word order. Deterministic (blake2b, not
    Python's salted hash), so vectors agree across processes and runs. v2: stemming and stop words.
    """

    dims = 1024
    model = "local-hash-v2"
    semantic = False

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dims, (1.0 if value >> 63 else -1.0)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            self._add(out[row], text)
        return normalise(out)

    def embed_query(self, text: str, weights: dict[str, float] | None) -> np.ndarray:
        """A query vector whose words count `weights[word]` times (the index passes BM25's idf).

        Hashing cannot know which words are rare; the index can. Weighting the query side only keeps
        stored vectors independent of the corpus (deterministic, never re-embedded as documents come
        and go) while rare words of a question still count more than common ones. Unlisted words weigh 1.
        """
        out = np.zeros(self.dims, dtype=np.float32)
        self._add(out, text, weights)
        return normalise(out[None])[0]

    def _add(self, out: np.ndarray, text: str, weights: dict[str, float] | None = None) -> None:
        tokens = terms(text)
        counts: dict[str, float] = {}
        for feature in tokens:
            counts[feature] = counts.get(feature, 0) + 1
        for a, b in zip(tokens, tokens[1:], strict=False):
            counts[f"{a} {b}"] = counts.get(f"{a} {b}", 0) + 0.5
        for feature, count in counts.items():
            index, sign = self._bucket(feature)
            value = (1.0 + np.log(count)) if count >= 1 else count
            if weights:
                value *= min(weights.get(word, 1.0) for word in feature.split(" "))
            out[index] += sign * value


class OpenAIEmbedder:
    semantic = True

    def __init__(self, model: str):
        self.model = model
        self.dims = 0  # known after the first call

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        matrix = normalise(np.array(openai_client.embed(texts, model=self.model), dtype=np.float32))
        self.dims = matrix.shape[1]
        return matrix

    def embed_query(self, text: str, weights: dict[str, float] | None) -> np.ndarray:
        return self.embed([text])[0]


@lru_cache(maxsize=4)
def _embedder(backend: str, openai_model: str) -> Embedder:
    if backend == "local":
        return LocalEmbedder()
    if backend == "openai":
        return OpenAIEmbedder(openai_model)
    raise ValueError(f"Unknown EMBEDDING_BACKEND {backend!r}: use 'local' or 'openai'.")


def get_embedder() -> Embedder:
    """The configured embedder: new documents are embedded with it (and `manage.py reindex` moves to it)."""
    return _embedder(settings.EMBEDDING_BACKEND, settings.OPENAI_EMBEDDING_MODEL)


def embedder_for_model(name: str) -> Embedder:
    """The embedder whose vectors are recorded as model `name` (the search index embeds queries with the
    active model's, which differs from the configured one until `manage.py reindex` has switched)."""
    if name == LocalEmbedder.model:
        return _embedder("local", "")
    return _embedder("openai", name)
