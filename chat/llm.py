"""Chat backends behind one small interface, chosen by settings.CHAT_BACKEND (never by `if`s at call sites).

    backend = get_backend()
    reply = backend.complete(request)       # Reply(text, model, usage)
    stream = backend.stream(request)        # iterate for text deltas; then stream.model, stream.usage
    query = backend.rewrite_follow_up(question, history)   # Reply(search query, ...) or None

`offline` needs no model service: it answers extractively from the retrieved passages (chat/offline.py)
and says that it is an offline answer; it does not rewrite follow-ups (the search keeps the earlier questions
instead). `openai` sends the RAG prompt to OPENAI_CHAT_MODEL through ragchat.openai_client, and rewrites a
follow-up as a search query with one short call (chat/followups.py). Both raise ProviderError.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from chat.followups import clean_query, rewrite_messages
from chat.offline import extractive_answer
from ragchat import openai_client

OFFLINE_MODEL = "offline-extractive"


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

    def rewrite_follow_up(self, question: str, history: Sequence[dict]) -> Reply | None:
        """The follow-up `question` as a stand-alone search query, from `history` ({"role", "content"} messages,
        oldest first); None when this backend does not rewrite."""


class OfflineBackend:
    model = OFFLINE_MODEL

    def complete(self, request: ChatRequest) -> Reply:
        return Reply(extractive_answer(request.question, request.hits), self.model)

    def stream(self, request: ChatRequest) -> ReplyStream:
        return _WordStream(self.complete(request).text, self.model)

    def rewrite_follow_up(self, question: str, history: Sequence[dict]) -> Reply | None:
        return None


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

    def rewrite_follow_up(self, question: str, history: Sequence[dict]) -> Reply | None:
        if not settings.FOLLOW_UP_REWRITE:
            return None
        # No retries and a short timeout: the search has a fallback, the user is waiting for the answer.
        text, usage, model = openai_client.chat(rewrite_messages(question, history), model=self.model,
                                                timeout=settings.FOLLOW_UP_REWRITE_TIMEOUT, max_retries=0)
        query = clean_query(text)
        return Reply(query, model, usage) if query else None


def get_backend() -> ChatBackend:
    backend = settings.CHAT_BACKEND
    factories = {"offline": OfflineBackend, "openai": lambda: OpenAIBackend(settings.OPENAI_CHAT_MODEL)}
    if backend not in factories:
        raise ValueError(f"Unknown CHAT_BACKEND {backend!r}: use 'offline' or 'openai'.")
    return factories[backend]()
