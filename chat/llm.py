"""Chat backends behind one small interface, chosen by settings.CHAT_BACKEND (never by `if`s at call sites).

    backend = get_backend()
    reply = backend.complete(request)       # Reply(text, model, usage)
    stream = backend.stream(request)        # iterate for text deltas; then stream.model, stream.usage

`offline` needs no model service: it answers extractively from the retrieved passages (the sentences that
best match the question, each cited) and says that it is an offline answer. `openai` sends the RAG prompt
to OPENAI_CHAT_MODEL through ragchat.openai_client. Both raise ragchat.openai_client.ProviderError.
"""

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from knowledge.lexical import terms
from ragchat import openai_client

OFFLINE_MODEL = "offline-extractive"
OFFLINE_PREFIX = "Offline answer (no language model is configured), quoted from the knowledge base:"
NOT_COVERED = ("The knowledge base does not cover this question: no document passage matches it closely "
               "enough. Try other words, or add a document that answers it.")


@dataclass
class ChatRequest:
    question: str
    hits: Sequence  # knowledge.index.Hit, numbered [1].. in this order
    messages: list[dict]  # the full prompt (chat.prompts.build_rag_messages)


@dataclass
class Reply:
    text: str
    model: str
    usage: dict = field(default_factory=dict)


class ReplyStream(Protocol):
    model: str
    usage: dict

    def __iter__(self) -> Iterator[str]: ...


class ChatBackend(Protocol):
    model: str

    def complete(self, request: ChatRequest) -> Reply: ...

    def stream(self, request: ChatRequest) -> ReplyStream: ...


class OfflineBackend:
    model = OFFLINE_MODEL

    def complete(self, request: ChatRequest) -> Reply:
        return Reply(extractive_answer(request.question, request.hits), self.model)

    def stream(self, request: ChatRequest) -> ReplyStream:
        return _WordStream(self.complete(request).text, self.model)


class _WordStream:
    """An already known answer, delivered word by word like a model's stream."""

    def __init__(self, text: str, model: str):
        self.text, self.model, self.usage = text, model, {}

    def __iter__(self) -> Iterator[str]:
        yield from re.findall(r"\S+\s*|\s+", self.text)


class OpenAIBackend:
    def __init__(self, model: str):
        self.model = model

    def complete(self, request: ChatRequest) -> Reply:
        text, usage, model = openai_client.chat(request.messages, model=self.model)
        return Reply(text, model, usage)

    def stream(self, request: ChatRequest) -> ReplyStream:
        return openai_client.ChatStream(request.messages, model=self.model)


def get_backend() -> ChatBackend:
    backend = settings.CHAT_BACKEND
    factories = {"offline": OfflineBackend, "openai": lambda: OpenAIBackend(settings.OPENAI_CHAT_MODEL)}
    if backend not in factories:
        raise ValueError(f"Unknown CHAT_BACKEND {backend!r}: use 'offline' or 'openai'.")
    return factories[backend]()


# --- the offline answer ---------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•\d])")
MAX_SENTENCES = 3
MAX_SENTENCE_CHARS = 400


def sentences(text: str) -> list[str]:
    """Sentences worth quoting: headings ("# Setup", a bare title line) and fragments under 4 words are not."""
    parts = (s.strip() for s in _SENTENCE_END.split(text) if s)
    return [s for s in parts if len(s.split()) >= 4 and not s.startswith("#")]


def extractive_answer(question: str, hits: Sequence) -> str:
    """The sentences of the passages that best answer `question`, each cited by its passage's number.

    A sentence scores the idf-weighted question words it contains (idf over the candidate sentences, so a
    word every sentence has counts little), divided by a gentle length penalty and discounted a little by
    its passage's rank. If no sentence holds any word of the question, the passages do not answer it.
    Pure: no database, no model.
    """
    if not hits:
        return NOT_COVERED
    wanted = set(terms(question))
    candidates = [(n, s, set(terms(s))) for n, hit in enumerate(hits, start=1) for s in sentences(hit.text)]
    if not candidates:
        return NOT_COVERED
    df = {w: sum(1 for _, _, words in candidates if w in words) for w in wanted}
    idf = {w: math.log(1 + len(candidates) / (1 + df[w])) for w, count in df.items() if count}

    def score(item: tuple[int, str, set]) -> float:
        n, _, words = item
        matched = sum(idf[w] for w in wanted & words if w in idf)
        return matched / (1 + 0.02 * len(words)) / (1 + 0.1 * (n - 1))

    ranked = sorted(candidates, key=score, reverse=True)
    best = [c for c in ranked[:MAX_SENTENCES] if score(c) > 0]
    if not best:
        return NOT_COVERED
    lines = [f"- {_clip(sentence)} [{n}]" for n, sentence, _ in best]
    return OFFLINE_PREFIX + "\n\n" + "\n".join(lines)


def _clip(sentence: str) -> str:
    sentence = " ".join(sentence.split())
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    return sentence[:MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + " …"
