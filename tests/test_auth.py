"""Who may call the API: token and browser-session auth, CSRF for browsers, nothing for anonymous users."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from sessions_app.models import ChatSession
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method, path", [("get", "/api/sessions"), ("post", "/api/sessions"),
                                          ("get", "/api/search?q=x"), ("get", "/api/documents")])
def test_anonymous_is_refused(anon_api, method, path):
    response = getattr(anon_api, method)(path)
    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_token_auth(anon_api, user):
    token = Token.objects.create(user=user)
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert anon_api.post("/api/sessions", {}, format="json").status_code == 201


def test_wrong_token_is_401(anon_api, user):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon_api.get("/api/sessions").status_code == 401


def test_session_login_then_api_with_csrf(user):
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get("/accounts/login/")
    response = browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD,
                                                 "csrfmiddlewaretoken": login_page.cookies["csrftoken"].value})
    assert response.status_code == 302
    assert browser.get("/api/sessions").status_code == 200
    csrf = browser.cookies["csrftoken"].value
    created = browser.post("/api/sessions", {"name": "From the browser"}, content_type="application/json",
                           HTTP_X_CSRFTOKEN=csrf)
    assert created.status_code == 201


def test_session_post_without_csrf_token_is_403(user):
    browser = Client(enforce_csrf_checks=True)
    browser.login(username="alice", password=PASSWORD)
    response = browser.post("/api/sessions", {"name": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not ChatSession.objects.exists()
