"""Errors under /api are JSON in DRF's shape, also with DEBUG off: never an HTML page or a traceback."""

import pytest
from django.test import Client

from sessions_app.views import ChatSessionViewSet

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_json_404(api, settings):
    settings.DEBUG = False
    response = api.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Not found."}


def test_unexpected_error_is_json_500_without_traceback(api, monkeypatch, settings):
    settings.DEBUG = False

    def explode(self, *args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(ChatSessionViewSet, "list", explode)
    api.raise_request_exception = False
    response = api.get("/api/sessions")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert b"secret internals" not in response.content


def test_method_not_allowed_is_json(api):
    response = api.put("/api/sessions", {}, format="json")
    assert response.status_code == 405
    assert "detail" in response.json()


def test_pages_outside_api_keep_html_404(settings, user):
    settings.DEBUG = False
    client = Client()
    client.force_login(user)
    response = client.get("/definitely/not/here")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_body_over_djangos_limit_is_json_413_on_any_endpoint(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/api/sessions", {"name": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]
