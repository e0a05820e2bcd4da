"""Errors under /api are JSON in DRF's shape, {"detail": ...}: never an HTML page or a stack trace. Under /v1
(the OpenAI-format API) they are JSON in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, so
that OpenAI's SDKs raise their usual exceptions (AuthenticationError, NotFoundError, ...).

A database that cannot be reached is 503 everywhere (JSON under /api, a short page elsewhere), and a model
service that fails outside a chat turn (a search's query embedding) is 502.
"""

import json
import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error
from rest_framework.views import exception_handler

from ragchat.db import is_unavailable
from ragchat.openai_client import ProviderError

log = logging.getLogger(__name__)
DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."


def api_exception_handler(exc, context):
    """DRF's handler, plus JSON for what it does not know: a body over Django's limit (413) and bugs (500)."""
    if isinstance(exc, RequestDataTooBig):
        megabytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024
        return JsonResponse({"detail": f"The request is larger than {megabytes:.3g} MB."}, status=413)
    if is_unavailable(exc):
        log.warning("Database unavailable: %s", exc)
        return JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503, headers={"Retry-After": "5"})
    if isinstance(exc, ProviderError):
        return JsonResponse({"detail": str(exc)}, status=502)
    response = exception_handler(exc, context)
    if response is None:
        log.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return response


def openai_exception_handler(exc, context):
    """For the /v1 views: the API's handler, its answer reshaped as OpenAI's error (status and headers kept)."""
    response = api_exception_handler(exc, context)
    data = getattr(response, "data", None)
    if data is None:
        data = json.loads(response.content)
    headers = {name: response[name] for name in ("Retry-After", "WWW-Authenticate") if response.has_header(name)}
    return openai_error(response.status_code, _message(data), headers=headers)


# OpenAI's error types by status; the codes its SDKs and clients look at.
OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
                404: "invalid_request_error", 405: "invalid_request_error", 413: "invalid_request_error",
                415: "invalid_request_error", 429: "rate_limit_error"}
OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 503: "service_unavailable"}


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict | None = None) -> JsonResponse:
    error = {"message": message, "type": OPENAI_TYPES.get(status, "server_error" if status >= 500 else
                                                           "invalid_request_error"),
             "param": param, "code": code or OPENAI_CODES.get(status)}
    return JsonResponse({"error": error}, status=status, headers=headers)


def _message(data) -> str:
    """DRF's {"detail": ...}, or a field's first error, as one line."""
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    if isinstance(data, dict) and data:
        name, errors = next(iter(data.items()))
        return f"{name}: {errors[0] if isinstance(errors, list) and errors else errors}"
    return str(data)


def _is_api(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def _is_v1(request) -> bool:
    return request.path.startswith("/v1/") or request.path == "/v1"


def bad_request_error(request, exception=None):
    """400 outside DRF (a Host header not in ALLOWED_HOSTS, a malformed multipart body)."""
    if _is_v1(request):
        return openai_error(400, "Bad request.")
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return bad_request(request, exception)


def forbidden(request, exception=None):
    if _is_v1(request):
        return openai_error(403, "Forbidden.")
    if _is_api(request):
        return JsonResponse({"detail": "Forbidden."}, status=403)
    return permission_denied(request, exception)


def not_found(request, exception=None):
    if _is_v1(request):
        return openai_error(404, f"Unknown request URL: {request.method} {request.path}.", code="unknown_url")
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def internal_error(request):
    # Django calls this while handling the exception (in any middleware or view), so it is still at hand.
    if is_unavailable(sys.exc_info()[1]):
        if _is_v1(request):
            return openai_error(503, DATABASE_UNAVAILABLE, headers={"Retry-After": "5"})
        if _is_api(request) or request.path == "/healthz":
            return JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503, headers={"Retry-After": "5"})
        return HttpResponse(f"<!doctype html><title>Unavailable</title><p>{DATABASE_UNAVAILABLE}</p>", status=503,
                            headers={"Retry-After": "5"})
    if _is_v1(request):
        return openai_error(500, "Internal server error.")
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return server_error(request)
