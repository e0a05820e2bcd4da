"""The OpenAI-format API under /v1: ragchat as a "model" that other tools (OpenAI's SDKs, Open WebUI, editors'
assistants) can point at with a base URL and an API token.

    GET  /v1/models, /v1/models/{id}      the user's models (chat/completion_models.py)
    POST /v1/chat/completions             an answer from the documents, JSON or server-sent chunks

Authenticated by `Authorization: Bearer <API token>` only (no session, so no CSRF); throttled like the chat.
Everything, errors included, is in OpenAI's format; an answer carries its citations in an extra `sources`
field (on the last chunk when streamed). Not in /api/schema: OpenAI's API reference describes these.
"""

import json
import time
import uuid
from contextlib import closing

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import completions
from chat.completion_models import ModelInfo, UnknownModel, models_for, scope_for
from chat.completion_request import CompletionRequest, InvalidRequest, parse_completion_request
from ragchat.errors import openai_error, openai_exception_handler
from ragchat.parsers import JSONParser
from ragchat.throttles import LimitedBearerAuthentication, rate


class OpenAIFormatView(APIView):
    authentication_classes = [LimitedBearerAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    def get_exception_handler(self):
        return openai_exception_handler

    def perform_content_negotiation(self, request, force=False):
        return JSONRenderer(), JSONRenderer.media_type  # whatever the client accepts, it gets JSON


@extend_schema(exclude=True)
class ModelList(OpenAIFormatView):
    def get(self, request):
        return Response({"object": "list", "data": [_model(m) for m in models_for(request.user)]})


@extend_schema(exclude=True)
class ModelDetail(OpenAIFormatView):
    def get(self, request, model_id):
        try:
            scope_for(request.user, model_id)
        except UnknownModel as exc:
            return _unknown_model(exc)
        return Response(_model(next(m for m in models_for(request.user) if m.id == model_id)))


@extend_schema(exclude=True)
class ChatCompletions(OpenAIFormatView):
    throttle_classes = [rate("chat")]

    def post(self, request):
        try:
            body = parse_completion_request(request.data)
            turn = completions.prepare(user=request.user, request=body)
            if body.stream:
                return _chunk_stream(turn)
            completion = completions.complete(turn)
        except InvalidRequest as exc:
            return openai_error(400, exc.message, param=exc.param)
        except UnknownModel as exc:
            return _unknown_model(exc)
        except completions.CompletionFailed as exc:
            return openai_error(502, str(exc), code="upstream_error")
        return Response(_completion(body, completion))


def _unknown_model(exc: UnknownModel):
    return openai_error(404, str(exc), param="model", code="model_not_found")


def _model(model: ModelInfo) -> dict:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": "ragchat",
            "description": model.description}


def _completion(body: CompletionRequest, completion: completions.Completion) -> dict:
    return {
        "id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": body.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text, "refusal": None},
                     "logprobs": None, "finish_reason": completion.finish_reason}],
        "usage": _usage(completion.usage),
        "system_fingerprint": None,
        "sources": completion.sources,
    }


def _chunk_stream(turn: completions.CompletionTurn) -> StreamingHttpResponse:
    """OpenAI's stream: a chunk with the role, one per delta, one with finish_reason (and the sources), the
    usage if asked for, then [DONE]. A provider failure midway ends with an error event, which OpenAI's SDKs
    raise as APIError."""
    body = turn.request
    header = {"id": _completion_id(), "object": "chat.completion.chunk", "created": int(time.time()),
              "model": body.model, "system_fingerprint": None}

    def chunk(delta: dict, finish_reason: str | None = None, **extra) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        usage = {"usage": None} if body.include_usage else {}
        return _event({**header, "choices": [choice], **usage, **extra})

    def events():
        yield chunk({"role": "assistant", "content": ""})
        with closing(completions.complete_stream(turn)) as deltas:
            for kind, payload in deltas:
                if kind == "token":
                    yield chunk({"content": payload})
                elif kind == "error":
                    error = json.loads(openai_error(502, payload.error, code="upstream_error").content)
                    yield _event(error)
                    return
                else:
                    yield chunk({}, payload.finish_reason, sources=payload.sources)
                    if body.include_usage:
                        yield _event({**header, "choices": [], "usage": _usage(payload.usage)})
        yield "data: [DONE]\n\n"

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _event(data: dict) -> str:
    return f"data: {json.dumps(data, default=str)}\n\n"


def _usage(usage: dict) -> dict:
    return {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
