"""A chat turn in OpenAI's format (POST /v1/chat/completions), top to bottom, like chat/services.py.

    turn = prepare(user=u, request=r)   # the model's scope, the search, the prompt (UnknownModel, CompletionFailed)
    completion = complete(turn)         # the answer (raises CompletionFailed on a provider error)
    complete_stream(turn)               # streamed: ("token", delta) ... then ("done"|"error", Completion)

The answer is grounded and cited like a chat turn: the same retrieval (a follow-up rewritten from the history
the client sent), the same prompt, the same backend. Unlike a chat turn, nothing is saved as a message: the
client holds the conversation and sends it whole each time, as with OpenAI's API. What every call cost is
recorded (sessions_app.models.ApiUsage), however it ends, so the admin's usage report counts it.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings

from chat.completion_models import Scope, scope_for
from chat.completion_request import CompletionRequest
from chat.followups import needs_rewrite
from chat.llm import ChatRequest, get_backend
from chat.prompts import build_rag_messages, retrieval_query
from chat.services import DISCONNECTED, INTERNAL_ERROR, backend_for_answer, citations
from knowledge import scope as knowledge_scope
from knowledge.services import search_for
from ragchat.openai_client import ProviderError
from sessions_app.models import ApiUsage

log = logging.getLogger(__name__)


class CompletionFailed(Exception):
    """The model service (or the embedding service, searching) failed; the message says how, readably."""


@dataclass
class Completion:
    text: str
    sources: list[dict]  # citations, as on a chat message
    usage: dict  # {"prompt_tokens", "completion_tokens"}: everything this call spent
    error: str = ""
    finish_reason: str = "stop"  # or "length": the model stopped at max_tokens


@dataclass
class CompletionTurn:
    user: object
    request: CompletionRequest
    scope: Scope
    chat: ChatRequest
    spent: dict = field(default_factory=dict)  # tokens spent before the answer (rewriting a follow-up)


def prepare(*, user, request: CompletionRequest) -> CompletionTurn:
    scope = scope_for(user, request.model)  # UnknownModel: nothing else happens
    turn = CompletionTurn(user, request, scope, ChatRequest(request.question, [], []))
    try:
        hits = _search(user, scope, _search_query(turn), settings.RAG_TOP_K)
    except ProviderError as exc:
        _record(turn, get_backend().model, {}, failed=True)
        raise CompletionFailed(f"Searching the knowledge base failed. {exc}") from exc
    turn.chat = ChatRequest(request.question, hits,
                            build_rag_messages(request.question, hits, request.history, settings.CHAT_HISTORY_TOKENS),
                            sampling=request.sampling)
    return turn


def complete(turn: CompletionTurn) -> Completion:
    backend = backend_for_answer()
    try:
        reply = backend.complete(turn.chat)
    except ProviderError as exc:
        _record(turn, backend.model, {}, failed=True)
        raise CompletionFailed(str(exc)) from exc
    return _finish(turn, reply.text, reply.model, reply.usage, reply.used, finish_reason=reply.finish_reason)


def complete_stream(turn: CompletionTurn) -> Iterator[tuple[str, object]]:
    """("token", "text") per delta, then ("done", Completion) or ("error", Completion with `error`)."""
    stream = backend_for_answer().stream(turn.chat)
    parts: list[str] = []

    def finish(error: str = "") -> Completion:
        deltas.close()  # the provider stops generating at once, and its stream knows what it cost
        return _finish(turn, "".join(parts), stream.model, stream.usage, stream.used, error=error,
                       finish_reason=stream.finish_reason)

    deltas = iter(stream)
    try:
        for delta in deltas:
            parts.append(delta)
            yield "token", delta
    except GeneratorExit:  # the client went away: what was spent is still recorded
        finish(DISCONNECTED)
        raise
    except ProviderError as exc:
        yield "error", finish(str(exc))
        return
    except Exception:  # a bug must not leave the client's stream hanging
        log.exception("Streaming a completion failed for user %s", turn.user.pk)
        yield "error", finish(INTERNAL_ERROR)
        return
    yield "done", finish()


# --- steps ----------------------------------------------------------------------------------------
def _search(user, scope: Scope, query: str, k: int) -> list:
    """The passages the scope's documents hold for `query` (`ragchat`: the whole readable knowledge base), among
    those `user` may read now."""
    within = knowledge_scope.Scope(collections=scope.collections) if scope.collections else None
    return search_for(user=user, query=query, k=k, scope=within, min_score=settings.RAG_MIN_SCORE)


def _search_query(turn: CompletionTurn) -> str:
    """As in a chat turn: a follow-up is rewritten by the model from the history; otherwise, or offline, the
    question searches with the client's earlier questions."""
    question, history = turn.request.question, turn.request.history
    earlier_questions = [m["content"][:settings.CHAT_MESSAGE_MAX_CHARS] for m in history if m["role"] == "user"]
    if needs_rewrite(question, earlier_questions):
        try:
            rewrite = get_backend().rewrite_follow_up(question, [m for m in history if m["role"] != "system"])
        except ProviderError as exc:
            log.warning("Rewriting a follow-up failed, searching without it: %s", exc)
            rewrite = None
        if rewrite:
            turn.spent = rewrite.usage or {}
            return rewrite.text
    return retrieval_query(question, earlier_questions)



def _finish(turn: CompletionTurn, text: str, model: str, usage: dict, used: list[int] | None, *,
            error: str = "", finish_reason: str = "stop") -> Completion:
    total = _record(turn, model, usage, failed=bool(error))
    return Completion(text, citations(turn.chat.hits, used), total, error, finish_reason)


def _record(turn: CompletionTurn, model: str, usage: dict, *, failed: bool) -> dict:
    """Record what the call spent: the answer's `usage` and what was spent before it. Returns the sum."""
    total = _tokens(usage, turn.spent)
    ApiUsage.objects.create(user=turn.user, requested=turn.request.model, model=model, failed=failed,
                            prompt_tokens=total["prompt_tokens"], completion_tokens=total["completion_tokens"])
    return total


def _tokens(*usages: dict) -> dict:
    """Prompt and completion tokens summed over `usages` (a backend that reports none, offline, spent none)."""
    total = {"prompt_tokens": 0, "completion_tokens": 0}
    for usage in usages:
        for key in total:
            value = (usage or {}).get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                total[key] += value
    return total
