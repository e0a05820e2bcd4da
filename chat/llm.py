"""Chat backends behind one small interface, chosen by settings.CHAT_BACKEND (never by `if`s at call sites).

    backend = get_backend()
    reply = backend.complete(request)       # Reply(text, model, usage)
    stream = backend.stream(request)        # iterate for text deltas; then stream.model, stream.usage

`offline` needs no model service: it answers extractively from the retrieved passages (chat/offline.py)
and says that it is an offline answer. `openai` sends the RAG prompt to OPENAI_CHAT_MODEL through
ragchat.openai_client. Both raise ragchat.openai_client.ProviderError.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

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
    remote: bool  # answers come over the network, maybe for a minute (the turn gives its DB connection back)

    def complete(self, request: ChatRequest) -> Reply: ...

    def stream(self, request: ChatRequest) -> ReplyStream: ...


class OfflineBackend:
    model = OFFLINE_MODEL
    remote = False

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
    remote = True

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
