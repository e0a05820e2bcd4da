"""Limits against abuse and cost: sign-in per account and per address, failed tokens per address, API rates
per user; counters shared through the cache (the database by default, Redis when configured)."""

import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ragchat import limits
from tests.factories import PASSWORD, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    """Move the limits' clock instead of sleeping."""
    now = [1_000_000.0]
    monkeypatch.setattr(limits, "now", lambda: now[0])
    return now


def sign_in(username, password, address="10.0.0.1", **headers):
    return Client(REMOTE_ADDR=address, **headers).post("/accounts/login/", {"username": username,
                                                                          "password": password})


def test_sign_in_is_locked_after_failures_per_account_and_works_after_the_window(user, settings, clock):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        assert sign_in("alice", "wrong").status_code == 200  # the form again, with its error
    locked = sign_in("alice", PASSWORD)  # even the right password: the account is locked for now
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert sign_in("alice", PASSWORD, address="10.9.9.9").status_code == 429  # per account, from anywhere

    clock[0] += settings.LOGIN_LOCKOUT_SECONDS
    assert sign_in("alice", PASSWORD).status_code == 302


def test_sign_in_is_locked_per_address_across_accounts(user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    for name in ["a", "b", "c", "d"]:
        assert sign_in(name, "wrong").status_code == 200
    assert sign_in("alice", PASSWORD).status_code == 429
    assert sign_in("alice", PASSWORD, address="10.0.0.2").status_code == 302


def test_a_successful_sign_in_clears_the_accounts_failures(user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    sign_in("alice", "wrong"), sign_in("alice", "wrong")
    assert sign_in("alice", PASSWORD).status_code == 302
    sign_in("alice", "wrong"), sign_in("alice", "wrong")
    assert sign_in("alice", PASSWORD).status_code == 302


def test_username_case_does_not_buy_more_guesses(user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    sign_in("alice", "wrong"), sign_in("ALICE", "wrong")
    assert sign_in("Alice", PASSWORD).status_code == 429


def test_admin_sign_in_is_limited_too(staff_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    admin = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(2):
        admin.post("/admin/login/", {"username": "staff", "password": "wrong"})
    response = admin.post("/admin/login/", {"username": "staff", "password": PASSWORD})
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in admin.session


def test_forged_forwarded_for_changes_nothing_without_trusted_proxies(user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 2
    for n in range(2):
        sign_in(f"x{n}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert sign_in("alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURES_PER_ADDRESS = 2
    proxy = "127.0.0.1"
    for _ in range(2):  # the client forges a first entry; the proxy appends the real one
        sign_in("x", "wrong", address=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    assert sign_in("alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    assert sign_in("alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 302


def test_ipv6_clients_are_counted_per_64_block(user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 2
    sign_in("x", "wrong", address="2001:db8:1:2::1"), sign_in("y", "wrong", address="2001:db8:1:2::ffff")
    assert sign_in("alice", PASSWORD, address="2001:db8:1:2:abcd::9").status_code == 429
    assert sign_in("alice", PASSWORD, address="2001:db8:1:3::1").status_code == 302


def test_unknown_tokens_are_limited_per_address_but_a_valid_token_works(user, settings, clock):
    settings.TOKEN_FAILURES_PER_ADDRESS = 5
    guesser = APIClient(REMOTE_ADDR="10.0.0.66")
    statuses = []
    for n in range(8):
        guesser.credentials(HTTP_AUTHORIZATION=f"Token {n:040x}")
        statuses.append(guesser.get("/api/sessions").status_code)
    assert statuses == [401] * 5 + [429] * 3
    refused = guesser.get("/api/sessions")
    assert refused.json()["detail"].startswith("Too many invalid tokens") and int(refused["Retry-After"]) > 0

    guesser.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert guesser.get("/api/sessions").status_code == 200
    clock[0] += settings.TOKEN_LOCKOUT_SECONDS
    guesser.credentials(HTTP_AUTHORIZATION="Token " + "f" * 40)
    assert guesser.get("/api/sessions").status_code == 401


@pytest.mark.parametrize("scope, call", [
    ("search", lambda api, session: api.get("/api/search", {"q": "volcano"})),
    ("chat", lambda api, session: api.post(f"/api/sessions/{session.id}/chat", {"message": "Hi"}, format="json")),
    ("uploads", lambda api, session: api.post("/api/documents", {"content": f"Text {session.name}"}, format="json")),
])
def test_api_rates_per_user_answer_429_with_retry_after(api, other_api, user, other_user, settings, clock,
                                                        scope, call):
    settings.API_RATES = {**settings.API_RATES, scope: "3/minute"}
    session = make_session(user)
    statuses = [call(api, make_session(user, f"n{n}")).status_code for n in range(4)]
    assert all(s < 400 for s in statuses[:3]) and statuses[3] == 429, statuses
    throttled = call(api, session)
    assert throttled.json()["detail"].startswith("Request was throttled") and int(throttled["Retry-After"]) <= 60
    assert call(other_api, make_session(other_user, "other")).status_code < 400  # per user
    clock[0] += 60
    assert call(api, make_session(user, "later")).status_code < 400


def test_other_endpoints_are_not_rate_limited(api, settings):
    settings.API_RATES = {"chat": "1/minute", "uploads": "1/minute", "search": "1/minute"}
    assert all(api.get("/api/sessions").status_code == 200 for _ in range(5))


def test_counters_are_atomic_under_parallel_increments(transactional_db):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def bump(_):
        try:
            return limits.count("parallel", "one", seconds=600)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        counts = sorted(pool.map(bump, range(40)))
    assert counts == list(range(1, 41))  # every increment counted once: no two requests saw the same count


def test_database_counters_count_in_one_statement_and_start_again_when_expired(django_assert_num_queries):
    with django_assert_num_queries(2):  # the first count of a window also clears counters that are over
        assert cache.count("c", 1, timeout=60) == 1
    with django_assert_num_queries(1):
        assert cache.count("c", 2, timeout=60) == 3
    assert cache.get("c") == 3
    limits.count("other", "x", seconds=60)
    with django_assert_num_queries(1):  # what every throttled request and sign-in does
        assert limits.count("other", "x", seconds=60) == 2
    cache.set("pickled", 41)
    assert cache.incr("pickled") == 42 and cache.incr("c") == 4  # Django's incr() of either form
    assert cache.count("c", 1, timeout=60) == 5  # incr() left a counter that the upsert can add to
    assert cache.count("old", 5, timeout=-1) == 5  # expired at once
    assert cache.count("old", 1, timeout=60) == 1 and cache.get("old") == 1


def test_counters_left_by_an_earlier_release_do_not_break_counting(settings):
    """Releases before the one-statement counters kept a window's counter as a pickle, under "limit:..."."""
    key, _ = limits._window("rate-search", "7", 60)
    assert key.startswith("limits:")
    cache.set(key.replace("limits:", "limit:", 1), 17)
    assert limits.count("rate-search", "7", seconds=60) == 1


def test_redis_cache_shares_the_counters(settings, user):
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    # A prefix of this run's own: the Redis server is shared, so the test never flushes a database that
    # another run (a second checkout, CI beside a session) may be counting in.
    prefix = f"ragchat-test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                                   "KEY_PREFIX": prefix}}
    try:
        settings.LOGIN_FAILURES_PER_ACCOUNT = 2
        sign_in("alice", "wrong"), sign_in("alice", "wrong")
        assert sign_in("alice", PASSWORD).status_code == 429
        assert any(b"limits:login-account" in key for key in client.scan_iter(f"{prefix}:*"))
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
