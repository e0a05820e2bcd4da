"""A chat turn, top to bottom (DESIGN.md "A chat turn").

    turn = ask(session=s, text="...")                          # 1-3: save the question, retrieve, build the prompt
    turn = regenerate(session=s)                               #   or the last question, answered again
    turn = edit_question(session=s, message_id=7, text="...")  #   or the last question, reworded
    answer(turn)              # 4: the assistant message (raises TurnFailed on a provider error)
    answer_stream(turn)       # 4, streamed: ("token", delta) ... then ("done"|"error", message)
    stop_answer(session=s)    # from any process: the session's streaming answer ends, `stopped`

The user message is committed before any provider is called, so it is never lost. However the model call
ends (an answer, a provider error, a stream that breaks, a stop, a client that goes away) an assistant
message is saved: complete, stopped with the text so far, or failed with the error and whatever text had
arrived. An answer that is regenerated is replaced only when its successor is saved.
"""

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chat import stopping
from chat.followups import needs_rewrite
from chat.llm import ChatRequest, get_backend
from chat.prompts import build_rag_messages, retrieval_query
from knowledge.scope import Scope
from knowledge.services import search_for
from ragchat.db import release_connection, retrying_deadlocks, write_fields
from ragchat.openai_client import ProviderError
from sessions_app.models import DEFAULT_SESSION_NAME, ChatSession, Message

SNIPPET_CHARS = 300
HISTORY_MESSAGES = 40  # read at most this many earlier messages; the token budget trims further
DISCONNECTED = "The answer was interrupted: the client disconnected before it was complete."
INTERNAL_ERROR = "The answer failed because of an internal error."

log = logging.getLogger(__name__)


class NothingToRetry(Exception):
    pass


class QuestionNotFound(Exception):
    pass


class NotTheLastQuestion(Exception):
    pass


class ChatGone(Exception):
    """The chat was deleted (by another request) while a question or its answer was being saved."""


class TurnFailed(Exception):
    def __init__(self, user_message: Message, assistant_message: Message):
        super().__init__(assistant_message.error)
        self.user_message, self.assistant_message = user_message, assistant_message


@dataclass
class Turn:
    session: ChatSession
    user_message: Message
    request: ChatRequest
    replaces: list[int] = field(default_factory=list)  # answers that go once this turn's answer is saved
    started_at: float = field(default_factory=time.time)  # a stop asked for before this does not stop it


def ask(*, session: ChatSession, text: str) -> Turn:
    started = time.time()
    return _prepare(session, _save_question(session, text), started_at=started)


def regenerate(*, session: ChatSession) -> Turn:
    """The last question again; its answer (complete, stopped or failed), if any, will be replaced."""
    started = time.time()
    question, answers = _last_exchange(session)
    return _prepare(session, question, replaces=answers, started_at=started)


def edit_question(*, session: ChatSession, message_id: int, text: str) -> Turn:
    """The last question with new words, answered again; its old answer will be replaced."""
    started = time.time()
    if not session.messages.filter(pk=message_id, role=Message.Role.USER).exists():
        raise QuestionNotFound("No such question in this chat.")
    question, answers = _last_exchange(session)
    if question.pk != message_id:
        raise NotTheLastQuestion("Only the last question of a chat can be edited.")
    question.content, question.rewritten_query = text, ""  # a new wording needs a new search query
    _update(question, "content", "rewritten_query")
    return _prepare(session, question, replaces=answers, started_at=started)


def _prepare(session: ChatSession, question: Message, *, replaces=(), started_at: float) -> Turn:
    """Retrieve passages for the question (and what it refers to) and build the prompt."""
    earlier = _earlier_messages(session, question)
    turn = Turn(session, question, ChatRequest(question.content, [], []), list(replaces), started_at)
    try:
        # Only what the asker may read now, within the chat's scope: a retry after losing access finds less.
        hits = search_for(user=session.owner, query=_search_query(question, earlier), k=settings.RAG_TOP_K,
                          scope=chat_scope(session), min_score=settings.RAG_MIN_SCORE)
    except ProviderError as exc:  # an embedding service that fails: the question stays, the answer failed
        raise TurnFailed(question, _save_answer(turn, "", error=f"Searching the knowledge base failed. {exc}")) from exc
    history = [{"role": m.role, "content": m.content} for m in earlier]
    turn.request = ChatRequest(question.content, hits, build_rag_messages(question.content, hits, history,
                                                                          settings.CHAT_HISTORY_TOKENS))
    return turn


def answer(turn: Turn) -> Message:
    backend = backend_for_answer()
    try:
        reply = backend.complete(turn.request)
    except ProviderError as exc:
        raise TurnFailed(turn.user_message, _save_answer(turn, "", error=str(exc))) from exc
    return _save_answer(turn, reply.text, model=reply.model, usage=reply.usage, used=reply.used)


def answer_stream(turn: Turn) -> Iterator[tuple[str, object]]:
    """("token", "text") per delta, then ("done", Message) or ("error", failed Message). A stop ends it early
    with ("done", the `stopped` Message holding the text so far)."""
    stream = backend_for_answer().stream(turn.request)
    stop = stopping.StopWatch(turn.session.pk, since=turn.started_at)
    parts: list[str] = []

    def save(**outcome) -> Message:
        deltas.close()  # the provider stops generating at once, and its stream knows what it cost
        return _save_answer(turn, "".join(parts), model=stream.model, usage=stream.usage, used=stream.used,
                            **outcome)

    deltas = iter(stream)
    try:
        for delta in deltas:
            if stop.requested():
                yield "done", save(status=Message.Status.STOPPED)
                return
            parts.append(delta)
            yield "token", delta
    except GeneratorExit:  # the client went away, having asked to stop or not: keep what it had been sent
        with contextlib.suppress(ChatGone):  # the chat was deleted meanwhile: nothing to keep
            save(status=Message.Status.STOPPED) if stop.requested(now=True) else save(error=DISCONNECTED)
        raise
    except ProviderError as exc:
        yield "error", save(error=str(exc))
        return
    except Exception:  # a bug must not leave the stream hanging without an answer on record
        log.exception("Streaming an answer failed in session %s", turn.session.pk)
        yield "error", save(error=INTERNAL_ERROR)
        return
    yield "done", save()


def stop_answer(*, session: ChatSession) -> None:
    """Ask the answer streaming in this session (in whichever process) to end, keeping its text."""
    stopping.request_stop(session.pk)


# --- steps ----------------------------------------------------------------------------------------
def backend_for_answer():
    """The chat backend, for a call that answers (a chat turn, a /v1 completion). One that answers over the
    network may take a minute, and 200 such calls must not hold 200 database connections meanwhile: the
    connection is given back, and reopened to save the answer or record its usage."""
    backend = get_backend()
    if backend.remote:
        release_connection()
    return backend


def _save_question(session: ChatSession, text: str) -> Message:
    try:
        question = Message.objects.create(session=session, role=Message.Role.USER, content=text)
    except IntegrityError as exc:  # its chat's foreign key: another request deleted the chat a moment ago
        raise ChatGone("This chat was deleted.") from exc
    if session.name == DEFAULT_SESSION_NAME:
        session.name = title_from(text)
    session.archived = False  # a chat written in again comes back from the archive
    # Also bumps updated_at: the session moves to the top of the list. Only these fields: a pin or a stop
    # written meanwhile by another request stays.
    session.updated_at = timezone.now()
    _update(session, "name", "archived", "updated_at")  # the chat may be deleted since the question went in
    return question


def chat_scope(session: ChatSession) -> Scope:
    return Scope(tuple(session.scope_collections.values_list("pk", flat=True)),
                 tuple(session.scope_documents.values_list("pk", flat=True)))


def _last_exchange(session: ChatSession) -> tuple[Message, list[int]]:
    """The last question, and the ids of the answers after it."""
    question = session.messages.filter(role=Message.Role.USER).order_by("-created_at", "-id").first()
    if question is None:
        raise NothingToRetry("There is no question to retry in this chat.")
    after = Q(created_at__gt=question.created_at) | Q(created_at=question.created_at, id__gt=question.id)
    return question, list(session.messages.filter(after, role=Message.Role.ASSISTANT).values_list("id", flat=True))


def _earlier_messages(session: ChatSession, question: Message) -> list[Message]:
    """Complete (or stopped) messages before `question`, oldest first (failed answers are not context)."""
    earlier = (session.messages.filter(status__in=[Message.Status.COMPLETE, Message.Status.STOPPED],
                                       created_at__lte=question.created_at)
               .exclude(id=question.id).exclude(content="").order_by("-created_at", "-id")[:HISTORY_MESSAGES])
    return list(reversed(earlier))


def _update(row: ChatSession | Message, *fields: str) -> None:
    """Write these fields of a chat or a question; ChatGone if another request deleted the chat meanwhile."""
    if not write_fields(row, *fields):
        raise ChatGone("This chat was deleted.")


def _search_query(question: Message, earlier: list[Message]) -> str:
    """What to search for. A follow-up is rewritten by the model once, and the rewrite kept on the question;
    offline, for a question that stands alone, or if the rewrite fails: the question and the ones before it."""
    earlier_questions = [m.content for m in earlier if m.role == Message.Role.USER]
    if not question.rewritten_query and needs_rewrite(question.content, earlier_questions):
        try:
            rewrite = get_backend().rewrite_follow_up(question.content, [{"role": m.role, "content": m.content}
                                                                         for m in earlier])
        except ProviderError as exc:
            log.warning("Rewriting a follow-up failed, searching without it: %s", exc)
            rewrite = None
        if rewrite:
            question.rewritten_query, question.usage = rewrite.text, _added(question.usage, rewrite.usage)
            _update(question, "rewritten_query", "usage")
    return question.rewritten_query or retrieval_query(question.content, earlier_questions)


def _save_answer(turn: Turn, text: str, *, model: str = "", usage: dict | None = None, error: str = "",
                 status: str | None = None, used: list[int] | None = None) -> Message:
    """`used`: the numbers of the hits the answer relies on, the only ones kept as its sources (None: all)."""
    def save() -> Message:
        with transaction.atomic():
            # The chat's row first: two answers of one chat saved at once (or an answer beside a stop or a rename)
            # then queue on it, instead of each taking a shared lock through its message's foreign key and
            # waiting for the other's to bump updated_at, which MariaDB ends as a deadlock.
            if not ChatSession.objects.select_for_update().filter(pk=turn.session.pk).exists():
                raise ChatGone("This chat was deleted while its answer was written.")
            message = Message.objects.create(
                session=turn.session, role=Message.Role.ASSISTANT, content=text, model=model, usage=usage or {},
                status=status or (Message.Status.FAILED if error else Message.Status.COMPLETE), error=error,
                sources=citations(turn.request.hits, used),
            )
            _retire_replaced(turn)
            ChatSession.objects.filter(pk=turn.session.pk).update(updated_at=message.created_at)
        return message

    return retrying_deadlocks(save)


def citations(hits, used: list[int] | None) -> list[dict]:
    """The sources an answer keeps, numbered as the prompt numbered them ([1] is 1); `used`: None keeps all."""
    return [{"n": n, "document_id": hit.document_id, "document_title": hit.document_title,
             "chunk_id": hit.chunk_id, "score": hit.score, "cosine": hit.cosine,
             "snippet": hit.text[:SNIPPET_CHARS], "page": hit.page}
            for n, hit in enumerate(hits, start=1) if used is None or n in used]


def _retire_replaced(turn: Turn) -> None:
    """Delete the answers this turn replaces; what they cost moves to the question, so usage still counts it."""
    replaced = Message.objects.filter(pk__in=turn.replaces)
    spent = [m.usage for m in replaced.only("usage")]
    if any(spent):
        question = turn.user_message
        question.usage = _added(question.usage, *spent)
        question.save(update_fields=["usage"])
    _, deleted = replaced.delete()  # a queryset's delete passes by Message.delete: the chat's count is kept here
    ChatSession.objects.filter(pk=turn.session.pk).add_messages(-deleted.get(Message._meta.label, 0))


def _added(*usages: dict) -> dict:
    total: dict = {}
    for usage in usages:
        for key, value in (usage or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total


def title_from(text: str, limit: int = 60) -> str:
    """A short session name from a first message: its first line, whitespace collapsed, cut at a word."""
    line = " ".join(next((ln for ln in text.splitlines() if ln.strip()), "").split())
    line = "".join(ch for ch in line if ch.isprintable())
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
    return line or DEFAULT_SESSION_NAME
