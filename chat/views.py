"""Chat API: a turn (JSON or server-sent events) and stopping it, search over the knowledge base, the backends.

Views validate, call one service, serialize. The chat endpoint is a DRF view so session auth (with CSRF)
and token auth both apply; a streamed answer is then a StreamingHttpResponse of SSE events.
"""

import json
from contextlib import closing

from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, throttle_classes
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import services
from chat.llm import get_backend
from chat.serializers import (
    ChatFailureSerializer,
    ChatReplySerializer,
    ChatTurnSerializer,
    ConfigSerializer,
    SearchHitSerializer,
    SearchQuerySerializer,
    chat_turn_schema,
)
from knowledge.embeddings import get_embedder
from knowledge.services import search_for
from ragchat.db import release_connection
from ragchat.schema import errors
from ragchat.throttles import rate
from sessions_app.models import ChatSession
from sessions_app.serializers import MessageSerializer

SSE = ("Server-sent events: `event: token` with data {delta} per piece of the answer, then `event: done` "
       "{user_message, assistant_message} (its status `complete`, or `stopped` after POST .../stop) or "
       "`event: error` {detail, user_message, assistant_message}.")


SSE_EVENT = {"type": "object", "required": ["event", "data"],
             "properties": {"event": {"type": "string", "enum": ["token", "done", "error"]},
                            "data": {"type": "string", "contentMediaType": "application/json"}}}


class ChatView(APIView):
    """POST /api/sessions/{id}/chat — answer a new question, the last one again (retry), or the last one reworded."""

    throttle_classes = [rate("chat")]

    def perform_content_negotiation(self, request, force=False):
        # Errors are JSON even when the client asked for text/event-stream; the stream itself is SSE.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(request={"application/json": chat_turn_schema()},
                   responses={201: ChatReplySerializer, 502: ChatFailureSerializer,
                              (200, "text/event-stream"): OpenApiResponse(SSE_EVENT, description=SSE),
                              **errors(404, 409)},
                   description="With `stream: true` or `Accept: text/event-stream` the answer is server-sent "
                               "events: `token` {delta} ..., then `done` {user_message, assistant_message} "
                               "(its status `complete`, or `stopped` after POST .../stop) or `error` "
                               "{detail, user_message, assistant_message}.")
    def post(self, request, pk):
        session = get_object_or_404(ChatSession, pk=pk, owner=request.user)
        serializer = ChatTurnSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            turn = _start_turn(session, data)
            if data["stream"] or "text/event-stream" in request.headers.get("Accept", ""):
                return _event_stream(turn)
            assistant = services.answer(turn)
        except (services.NothingToRetry, services.NotTheLastQuestion) as exc:  # the chat's state refuses it
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except (services.QuestionNotFound, services.ChatGone) as exc:
            raise NotFound(str(exc)) from exc
        except services.TurnFailed as failed:
            body = {"detail": failed.assistant_message.error, **_pair(failed.user_message, failed.assistant_message)}
            return Response(body, status=status.HTTP_502_BAD_GATEWAY)
        return Response(_pair(turn.user_message, assistant), status=status.HTTP_201_CREATED)


def _start_turn(session: ChatSession, data: dict) -> services.Turn:
    if data["retry"]:
        return services.regenerate(session=session)
    if "edit" in data:
        return services.edit_question(session=session, message_id=data["edit"], text=data["message"])
    return services.ask(session=session, text=data["message"])


@extend_schema(request=None, responses={204: None, **errors(404)})
@api_view(["POST"])
def stop(request, pk):
    """POST /api/sessions/{id}/stop — end the answer streaming in this chat; the text so far is kept, `stopped`.

    Idempotent, and harmless when nothing streams. The streaming request then ends with `done`."""
    services.stop_answer(session=get_object_or_404(ChatSession, pk=pk, owner=request.user))
    return Response(status=status.HTTP_204_NO_CONTENT)


def _pair(user_message, assistant_message) -> dict:
    return {"user_message": MessageSerializer(user_message).data,
            "assistant_message": MessageSerializer(assistant_message).data}


def _event_stream(turn: services.Turn) -> StreamingHttpResponse:
    def events():
        # closing(): when the client goes away the server closes this generator, and that closes the turn's
        # stream at once (not whenever it is garbage-collected), so the partial answer is saved.
        with closing(services.answer_stream(turn)) as turn_events:
            try:
                for kind, payload in turn_events:
                    yield _sse(kind, _event_data(turn, kind, payload))
            except services.ChatGone:  # deleted while it streamed: the stream just ends, as the chat did
                return
            finally:
                # A thread that streamed for a minute gives its connection back rather than keeping it open
                # (CONN_MAX_AGE) while it waits for its next request: 200 answers that end together must not
                # leave 200 idle connections behind (MariaDB allows 151 by default).
                release_connection()

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _event_data(turn: services.Turn, kind: str, payload) -> dict:
    if kind == "token":
        return {"delta": payload}
    if kind == "done":
        return _pair(turn.user_message, payload)
    return {"detail": payload.error, **_pair(turn.user_message, payload)}


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


@extend_schema(parameters=[SearchQuerySerializer],
               responses={200: SearchHitSerializer(many=True), **errors(400, 414, 502)})
@api_view(["GET"])
@throttle_classes([rate("search")])
def search(request):
    """GET /api/search?q=...&k=5 — the chunks that best match q among the documents you may read, best first."""
    query = SearchQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    hits = search_for(user=request.user, query=query.validated_data["q"], k=query.validated_data["k"])
    return Response(SearchHitSerializer.items(hits))


@extend_schema(responses=ConfigSerializer)
@api_view(["GET"])
def config(request):
    """GET /api/config — which chat and embedding backends answer (the UI shows a banner when offline)."""
    return Response(ConfigSerializer({
        "chat_backend": settings.CHAT_BACKEND,
        "chat_model": get_backend().model,
        "embedding_backend": settings.EMBEDDING_BACKEND,
        "embedding_model": get_embedder().model,
    }).data)
