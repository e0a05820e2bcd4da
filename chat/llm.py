"""Chat backends behind one small interface, chosen by settings.CHAT_BACKEND (never by `if`s at call sites).

    backend = get_backend()
    reply = backend.complete(request)       # Reply(text, model, usage)
    stream = backend.stream(request)        # iterate for text deltas; then stream.model, stream.usage
    query = backend.rewrite_follow_up(question, history)   # Reply(search query, ...) or None

`offline` needs no model service: it answers extractively from the retrieved passages (chat/offline.py),
picking sentences by meaning with the local embedding model when it is installed, and says that it is an
offline answer; `used` names the passages it quotes (none when the knowledge base does not cover the
question). It does not rewrite follow-ups (the search keeps the earlier questions instead). `openai` sends
the RAG prompt to OPENAI_CHAT_MODEL through ragchat.openai_client, and rewrites a follow-up as a search
query with one short call (chat/followups.py). Both raise ragchat.openai_client.ProviderError.
"""

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from django.conf import settings

from chat.followups import clean_query, rewrite_messages
from chat.offline import extractive_answer
from knowledge.embeddings import MiniLMEmbedder, embedder_for_model, local_model_installed
from ragchat import openai_client

OFFLINE_MODEL = "offline-extractive"


@dataclass
class ChatRequest:
    question: str
    hits: Sequence  # knowledge.index.Hit, numbered [1].. in this order
    messages: list[dict]  # the full prompt (chat.prompts.build_rag_messages)
    sampling: dict = field(default_factory=dict)  # temperature, max_tokens: for a model; offline ignores them


@dataclass
class Reply:
    text: str
    model: str
    usage: dict = field(default_factory=dict)
    used: list[int] | None = None  # numbers of the hits the answer relies on ([1] is 1); None: all of them
    finish_reason: str = "stop"  # or "length": the model stopped at max_tokens


class ReplyStream(Protocol):
    model: str
    usage: dict
    used: list[int] | None  # known once iterated, like usage
    finish_reason: str  # "stop" or "length", known once iterated

    def __iter__(self) -> Iterator[str]: ...


class ChatBackend(Protocol):
    model: str
    remote: bool  # answers come over the network, maybe for a minute (the turn gives its DB connection back)

    def complete(self, request: ChatRequest) -> Reply: ...

    def stream(self, request: ChatRequest) -> ReplyStream: ...

    def rewrite_follow_up(self, question: str, history: Sequence[dict]) -> Reply | None:
        """The follow-up `question` as a stand-alone search query, from `history` ({"role", "content"} messages,
        oldest first); None when this backend does not rewrite."""


class OfflineBackend:
    model = OFFLINE_MODEL
    remote = False

    def complete(self, request: ChatRequest) -> Reply:
        similarity = _sentence_similarity if local_model_installed() else None
        answer = extractive_answer(request.question, request.hits, similarity)
        return Reply(answer.text, self.model, used=answer.used)

    def stream(self, request: ChatRequest) -> ReplyStream:
        reply = self.complete(request)
        return _WordStream(reply.text, self.model, reply.used)

    def rewrite_follow_up(self, question: str, history: Sequence[dict]) -> Reply | None:
        return None


_SENTENCE_CACHE = 8192  # sentence vectors kept: the same passages come back for related questions
_sentences: OrderedDict[str, np.ndarray] = OrderedDict()
_sentences_lock = threading.Lock()


def _sentence_similarity(question: str, sentences: list[str]) -> np.ndarray:
    """Cosine of the question and each sentence by the local model (whatever model the index uses).

    Sentence vectors are cached (1.5 KB each): embedding the ~50-80 sentences of five passages is most
    of an offline answer's time, and a knowledge base's popular passages are quoted again and again.
    """
    model = embedder_for_model(MiniLMEmbedder.model)
    with _sentences_lock:
        missing = list(dict.fromkeys(s for s in sentences if s not in _sentences))
    vectors = dict(zip(missing, model.embed(missing), strict=True)) if missing else {}
    with _sentences_lock:
        for sentence in sentences:
            if sentence in vectors:
                _sentences[sentence] = vectors[sentence]
            elif sentence in _sentences:
                vectors[sentence] = _sentences[sentence]
                _sentences.move_to_end(sentence)
        while len(_sentences) > _SENTENCE_CACHE:
            _sentences.popitem(last=False)
    return np.stack([vectors[s] for s in sentences]) @ model.embed_query(question)


class _WordStream:
    """An already known answer, delivered word by word like a model's stream."""

    def __init__(self, text: str, model: str, used: list[int] | None):
        self.text, self.model, self.usage, self.used = text, model, {}, used
        self.finish_reason = "stop"

    def __iter__(self) -> Iterator[str]:
        yield from re.findall(r"\S+\s*|\s+", self.text)


class OpenAIBackend:
    remote = True

    def __init__(self, model: str):
        self.model = model

    def complete(self, request: ChatRequest) -> Reply:
        text, usage, model, finish_reason = openai_client.chat(request.messages, model=self.model,
                                                               sampling=request.sampling)
        return Reply(text, model, usage, finish_reason=finish_reason)

    def stream(self, request: ChatRequest) -> ReplyStream:
        return _OpenAIStream(request.messages, model=self.model, sampling=request.sampling)

    def rewrite_follow_up(self, question: str, history: Sequence[dict]) -> Reply | None:
        if not settings.FOLLOW_UP_REWRITE:
            return None
        # No retries and a short timeout: the search has a fallback, the user is waiting for the answer.
        text, usage, model, _ = openai_client.chat(rewrite_messages(question, history), model=self.model,
                                                timeout=settings.FOLLOW_UP_REWRITE_TIMEOUT, max_retries=0)
        query = clean_query(text)
        return Reply(query, model, usage) if query else None


class _OpenAIStream(openai_client.ChatStream):
    used = None  # a model's answer may draw on any of the passages it was given


def get_backend() -> ChatBackend:
    backend = settings.CHAT_BACKEND
    factories = {"offline": OfflineBackend, "openai": lambda: OpenAIBackend(settings.OPENAI_CHAT_MODEL)}
    if backend not in factories:
        raise ValueError(f"Unknown CHAT_BACKEND {backend!r}: use 'offline' or 'openai'.")
    return factories[backend]()
