"""Errors under /api are JSON in DRF's shape, {"detail": ...}: never an HTML page or a stack trace."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error
from rest_framework.views import exception_handler

log = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    """DRF's handler, plus JSON for what it does not know: a body over Django's limit (413) and bugs (500)."""
    if isinstance(exc, RequestDataTooBig):
        megabytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 1024 / 1024
        return JsonResponse({"detail": f"The request is larger than {megabytes:.3g} MB."}, status=413)
    response = exception_handler(exc, context)
    if response is None:
        log.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def internal_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return server_error(request)
