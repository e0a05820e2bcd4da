"""A chat turn, top to bottom (DESIGN.md "A chat turn").

    turn = start_turn(session=s, text="...")   # 1-3: save the question, retrieve, build the prompt
    answer(turn)                               # 4: the assistant message (raises TurnFailed on a provider error)
    answer_stream(turn)                        # 4, streamed: ("token", delta) ... then ("done"|"error", message)

The user message is committed before any provider is called, so it is never lost. However the model call
ends (an answer, a provider error, a stream that breaks, a client that goes away) an assistant message is
saved: complete, or failed with the error and whatever text had arrived.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from chat.llm import ChatRequest, get_backend
from chat.prompts import build_rag_messages, retrieval_query
from knowledge import index
from ragchat.openai_client import ProviderError
from sessions_app.models import DEFAULT_SESSION_NAME, ChatSession, Message

SNIPPET_CHARS = 300
HISTORY_MESSAGES = 40  # read at most this many earlier messages; the token budget trims further
DISCONNECTED = "The answer was interrupted: the client disconnected before it was complete."
INTERNAL_ERROR = "The answer failed because of an internal error."

log = logging.getLogger(__name__)


class NothingToRetry(Exception):
    pass


class TurnFailed(Exception):
    def __init__(self, user_message: Message, assistant_message: Message):
        super().__init__(assistant_message.error)
        self.user_message, self.assistant_message = user_message, assistant_message


@dataclass
class Turn:
    session: ChatSession
    user_message: Message
    request: ChatRequest


def start_turn(*, session: ChatSession, text: str | None) -> Turn:
    """Save the question (or, with text=None, retry the last one), retrieve passages, build the prompt."""
    question = _retry_target(session) if text is None else _save_question(session, text)
    earlier = _earlier_messages(session, question)
    query = retrieval_query(question.content, [m.content for m in earlier if m.role == Message.Role.USER])
    try:
        hits = index.search(query, settings.RAG_TOP_K, min_score=settings.RAG_MIN_SCORE)
    except ProviderError as exc:  # an embedding service that fails: the question stays, the answer failed
        failed = _save_answer(Turn(session, question, ChatRequest(question.content, [], [])), "",
                              error=f"Searching the knowledge base failed. {exc}")
        raise TurnFailed(question, failed) from exc
    history = [{"role": m.role, "content": m.content} for m in earlier]
    messages = build_rag_messages(question.content, hits, history, settings.CHAT_HISTORY_TOKENS)
    return Turn(session, question, ChatRequest(question.content, hits, messages))


def answer(turn: Turn) -> Message:
    try:
        reply = get_backend().complete(turn.request)
    except ProviderError as exc:
        raise TurnFailed(turn.user_message, _save_answer(turn, "", error=str(exc))) from exc
    return _save_answer(turn, reply.text, model=reply.model, usage=reply.usage)


def answer_stream(turn: Turn) -> Iterator[tuple[str, object]]:
    """("token", "text") per delta, then ("done", Message) or ("error", failed Message)."""
    stream = get_backend().stream(turn.request)
    parts: list[str] = []
    try:
        for delta in stream:
            parts.append(delta)
            yield "token", delta
    except GeneratorExit:  # the client went away: keep what it had been sent
        _save_answer(turn, "".join(parts), model=stream.model, error=DISCONNECTED)
        raise
    except ProviderError as exc:
        yield "error", _save_answer(turn, "".join(parts), model=stream.model, error=str(exc))
        return
    except Exception:  # a bug must not leave the stream hanging without an answer on record
        log.exception("Streaming an answer failed in session %s", turn.session.pk)
        yield "error", _save_answer(turn, "".join(parts), model=stream.model, error=INTERNAL_ERROR)
        return
    yield "done", _save_answer(turn, "".join(parts), model=stream.model, usage=stream.usage)


# --- steps ----------------------------------------------------------------------------------------
def _save_question(session: ChatSession, text: str) -> Message:
    question = Message.objects.create(session=session, role=Message.Role.USER, content=text)
    if session.name == DEFAULT_SESSION_NAME:
        session.name = title_from(text)
    session.save()  # also bumps updated_at: the session moves to the top of the list
    return question


def _retry_target(session: ChatSession) -> Message:
    """The last question, if it has no answer or a failed one (which is deleted, to be replaced)."""
    last = session.messages.order_by("-created_at", "-id").first()
    if last is not None and last.role == Message.Role.ASSISTANT and last.status == Message.Status.FAILED:
        last.delete()
        last = session.messages.order_by("-created_at", "-id").first()
    if last is None or last.role != Message.Role.USER:
        raise NothingToRetry("There is no unanswered or failed message to retry in this session.")
    return last


def _earlier_messages(session: ChatSession, question: Message) -> list[Message]:
    """Complete messages before `question`, oldest first (failed answers are not context)."""
    earlier = (session.messages.filter(status=Message.Status.COMPLETE, created_at__lte=question.created_at)
               .exclude(id=question.id).exclude(content="").order_by("-created_at", "-id")[:HISTORY_MESSAGES])
    return list(reversed(earlier))


def _save_answer(turn: Turn, text: str, *, model: str = "", usage: dict | None = None, error: str = "") -> Message:
    message = Message.objects.create(
        session=turn.session, role=Message.Role.ASSISTANT, content=text, model=model, usage=usage or {},
        status=Message.Status.FAILED if error else Message.Status.COMPLETE, error=error,
        sources=[
            {"n": n, "document_id": hit.document_id, "document_title": hit.document_title,
             "chunk_id": hit.chunk_id, "score": hit.score, "cosine": hit.cosine,
             "snippet": hit.text[:SNIPPET_CHARS], "page": hit.page}
            for n, hit in enumerate(turn.request.hits, start=1)
        ],
    )
    ChatSession.objects.filter(pk=turn.session.pk).update(updated_at=message.created_at)
    return message


def title_from(text: str, limit: int = 60) -> str:
    """A short session name from a first message: its first line, whitespace collapsed, cut at a word."""
    line = " ".join(next((ln for ln in text.splitlines() if ln.strip()), "").split())
    line = "".join(ch for ch in line if ch.isprintable())
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
    return line or DEFAULT_SESSION_NAME
