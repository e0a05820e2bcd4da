"""ragchat as a model for other tools: the OpenAI-format API under /v1, driven by the real `openai` SDK against a
live server (and, for the OpenAI backend, ragchat in turn talking to the fake OpenAI-compatible upstream)."""

import json
import time

import openai
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sessions_app.models import ApiUsage
from tests.factories import make_document, make_user

pytestmark = pytest.mark.usefixtures("fresh_index")

EIFFEL = "The Eiffel Tower is 330 metres tall. It was completed in 1889 for the World's Fair."
HEATER = "The Borealis heater has a warranty of five years. Its filter is changed every spring."


@pytest.fixture
def knowledge(transactional_db, settings):
    settings.RAG_MIN_SCORE = 0.0
    make_document(EIFFEL, title="Eiffel facts")
    make_document(HEATER, title="Borealis manual")


@pytest.fixture
def token(transactional_db):
    return Token.objects.create(user=make_user("alice")).key


@pytest.fixture
def sdk(live_server, token):
    """The real OpenAI SDK, pointed at ragchat as its base URL (no retries: a test sees each answer once)."""
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=token, max_retries=0, timeout=30)


@pytest.fixture
def upstream(openai_server, settings, knowledge):
    """ragchat's chat backend set to OpenAI, pointing at the fake OpenAI-compatible server."""
    openai_server.configure(settings, chat=True, timeout=5.0, max_retries=0)
    settings.OPENAI_CHAT_MODEL = "upstream-model"
    return openai_server


def ask(sdk, question: str, **options):
    return sdk.chat.completions.create(model="ragchat", messages=[{"role": "user", "content": question}], **options)


# --- models -----------------------------------------------------------------------------------------
def test_models_list_the_whole_knowledge_base_as_ragchat(sdk):
    models = sdk.models.list()
    assert models.data[0].id == "ragchat"  # then one per readable collection (tests/test_v1_collections.py)
    assert all(m.id.startswith("ragchat/") for m in models.data[1:])
    assert models.data[0].object == "model" and models.data[0].owned_by == "ragchat"
    assert sdk.models.retrieve("ragchat").id == "ragchat"


def test_an_unknown_model_is_404_model_not_found(sdk, knowledge):
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("ragchat/someone-elses")


# --- answers, offline backend -----------------------------------------------------------------------
def test_answer_is_grounded_and_cites_its_sources_in_an_extra_field(sdk, knowledge):
    completion = ask(sdk, "How tall is the Eiffel Tower?")
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "330 metres" in choice.message.content and "[1]" in choice.message.content
    assert completion.id.startswith("chatcmpl-") and completion.model == "ragchat"
    sources = completion.model_extra["sources"]
    assert sources[0]["n"] == 1 and sources[0]["document_title"] == "Eiffel facts"
    assert {"document_id", "chunk_id", "score", "snippet"} <= sources[0].keys()
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_streamed_answer_arrives_in_chunks_then_stop_with_sources(sdk, knowledge):
    chunks = list(ask(sdk, "When was the Eiffel Tower completed?", stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "1889" in text and "[1]" in text
    assert len([c for c in chunks if c.choices[0].delta.content]) > 3
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["sources"][0]["document_title"] == "Eiffel facts"
    assert isinstance(last.model_extra["sources"][0]["score"], float)
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_content_as_text_parts_and_earlier_turns_are_accepted(sdk, knowledge):
    completion = sdk.chat.completions.create(model="ragchat", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me about the Borealis heater."},
        {"role": "assistant", "content": "It is a heater [1]."},
        {"role": "user", "content": [{"type": "text", "text": "How long is the Borealis heater warranty?"}]},
    ], temperature=0.3, max_tokens=200, user="ignored-field")
    assert "five years" in completion.choices[0].message.content


def test_a_request_reads_as_question_history_and_sampling():
    from chat.completion_request import parse_completion_request

    request = parse_completion_request({
        "model": "ragchat", "stream": True, "stream_options": {"include_usage": True}, "temperature": 0,
        "max_completion_tokens": 99, "top_p": 0.5, "seed": 7, "messages": [
            {"role": "developer", "content": "Answer briefly."},
            {"role": "user", "content": [{"type": "text", "text": "About the heater:"},
                                         {"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": None, "tool_calls": []},
            {"role": "user", "content": "And its warranty?", "name": "alice"}]})
    assert request.question == "And its warranty?" and request.stream and request.include_usage
    assert request.history == [{"role": "system", "content": "Answer briefly."},
                               {"role": "user", "content": "About the heater:\nhi"},
                               {"role": "assistant", "content": ""}]
    assert request.sampling == {"temperature": 0, "max_tokens": 99}


# --- errors, through the SDK ------------------------------------------------------------------------
def test_a_bad_token_is_401_for_the_sdk(live_server, knowledge):
    stranger = openai.OpenAI(base_url=live_server.url + "/v1", api_key="f" * 40, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(stranger, "How tall is the Eiffel Tower?")
    assert refused.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_a_body_ragchat_cannot_honour_is_400_for_the_sdk(sdk, knowledge):
    with pytest.raises(openai.BadRequestError) as several:
        ask(sdk, "How tall is the Eiffel Tower?", n=2)
    assert several.value.param == "n"
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="ragchat", messages=[])
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="ragchat", messages=[{"role": "assistant", "content": "Hello"}])


# --- the OpenAI backend: SDK -> ragchat -> upstream -------------------------------------------------
def test_through_the_openai_backend_the_upstream_gets_the_rag_prompt(sdk, upstream):
    upstream.reply = "It is 330 metres tall [1]."
    completion = sdk.chat.completions.create(model="ragchat", temperature=0.2, max_tokens=50, messages=[
        {"role": "user", "content": "Tell me about the Eiffel Tower."},
        {"role": "assistant", "content": "It is a tower in Paris."},
        {"role": "user", "content": "How tall is the Eiffel Tower?"},
    ])
    assert completion.choices[0].message.content == "It is 330 metres tall [1]."
    assert completion.model_extra["sources"][0]["document_title"] == "Eiffel facts"
    assert completion.usage.completion_tokens == 6 and completion.usage.prompt_tokens > 0
    sent = upstream.chat_requests()[-1]
    assert sent["model"] == "upstream-model" and sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert "330 metres" in sent["messages"][0]["content"]  # the sources, in the system prompt
    assert [m["content"] for m in sent["messages"][1:]] == [
        "Tell me about the Eiffel Tower.", "It is a tower in Paris.", "How tall is the Eiffel Tower?"]
    recorded = ApiUsage.objects.get()
    assert (recorded.requested, recorded.model, recorded.failed) == ("ragchat", "upstream-model", False)
    assert recorded.completion_tokens == 6 and recorded.prompt_tokens == completion.usage.prompt_tokens


def test_through_the_openai_backend_a_stream_carries_usage_when_asked(sdk, upstream):
    upstream.reply = "It was completed in 1889 [1]."
    chunks = list(ask(sdk, "When was the Eiffel Tower completed?", stream=True,
                      stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == upstream.reply
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-2].model_extra["sources"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6
    assert upstream.chat_requests()[-1]["stream"] is True
    assert ApiUsage.objects.get().completion_tokens == 6


def test_an_answer_cut_at_max_tokens_finishes_with_length(sdk, upstream):
    upstream.reply = "It is 330 metres tall [1]."
    cut = ask(sdk, "How tall is the Eiffel Tower?", max_tokens=3)
    assert cut.choices[0].message.content == "It is 330 " and cut.choices[0].finish_reason == "length"
    chunks = list(ask(sdk, "How tall is the Eiffel Tower?", max_tokens=3, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "It is 330 "
    assert chunks[-1].choices[0].finish_reason == "length"
    assert [r["max_tokens"] for r in upstream.chat_requests()] == [3, 3]


def test_an_upstream_failure_is_502_and_a_broken_stream_raises_in_the_sdk(sdk, upstream):
    upstream.fail(500)
    with pytest.raises(openai.InternalServerError) as failed:
        ask(sdk, "How tall is the Eiffel Tower?")
    assert failed.value.status_code == 502 and "model service" in failed.value.message

    upstream.cut_stream(after_tokens=2)
    received = []
    with pytest.raises(openai.APIError) as broken:
        for chunk in ask(sdk, "How tall is the Eiffel Tower?", stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "broke off" in broken.value.message and "".join(received)
    assert sorted(ApiUsage.objects.values_list("failed", flat=True)) == [True, True]


def test_a_client_that_goes_away_mid_stream_still_has_its_usage_recorded(upstream):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {Token.objects.create(user=make_user('erin')).key}")
    upstream.reply = "It is three hundred and thirty metres tall [1]."
    body = {"model": "ragchat", "stream": True, "messages": [{"role": "user", "content": "How tall is it?"}]}
    response = api.post("/v1/chat/completions", body, format="json")
    chunks = iter(response.streaming_content)
    received = [next(chunks), next(chunks), next(chunks)]  # the role, then two deltas
    response.close()  # what the WSGI server does when the client goes away
    assert b"\"It \"" in b"".join(received) and b"three" not in b"".join(received)
    recorded = ApiUsage.objects.get()
    assert recorded.failed and recorded.user.username == "erin" and recorded.completion_tokens > 0


def test_streams_through_the_production_server_give_their_database_connections_back(openai_server, knowledge):
    """gunicorn, the SDK and a model that pauses mid-answer: every stream completes, and while they all wait
    on the model they hold (on MariaDB, where it can be counted) hardly any database connection."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from tests.production_server import ProductionServer, database_url
    from tests.test_production_streams import database_connections

    streams = 6
    token = Token.objects.create(user=make_user("frank")).key
    openai_server.reply = "It was completed in 1889 [1]."
    openai_server.hold_stream(after_tokens=2, times=streams)
    env = {"CHAT_BACKEND": "openai", "OPENAI_BASE_URL": openai_server.url, "OPENAI_API_KEY": "test-key",
           "OPENAI_MAX_RETRIES": "0", "EMBEDDING_BACKEND": "local", "RAG_MIN_SCORE": "0",
           "THROTTLE_CHAT": "1000/minute"}
    # Connections this test process still has open from earlier tests (live_server threads) are not the
    # server's: only what appears beyond them is counted.
    before = database_connections() if connection.vendor == "mysql" else 0
    with ProductionServer(database_url(connection.settings_dict), env=env, workers=1, threads=16) as server:
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=token, max_retries=0, timeout=30)

        def read_stream(_) -> tuple[str, str | None]:
            chunks = list(ask(sdk, "When was the Eiffel Tower completed?", stream=True))
            return "".join(c.choices[0].delta.content or "" for c in chunks), chunks[-1].choices[0].finish_reason

        with ThreadPoolExecutor(streams) as pool:
            answers = pool.map(read_stream, range(streams))
            deadline = time.monotonic() + 30
            while len(openai_server.chat_requests()) < streams and time.monotonic() < deadline:
                time.sleep(0.05)  # waiting for a condition, not for timing
            held_connections = database_connections() - before if connection.vendor == "mysql" else 0
            openai_server.release()
            answers = list(answers)
    assert answers == [("It was completed in 1889 [1].", "stop")] * streams
    assert held_connections < streams // 2
    assert ApiUsage.objects.filter(user__username="frank", failed=False).count() == streams


# --- usage in the admin -----------------------------------------------------------------------------
def test_api_usage_is_in_the_admins_usage_report(client, upstream):
    alice = make_user("alice")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {Token.objects.create(user=alice).key}")
    upstream.reply = "It is 330 metres tall [1]."
    body = {"model": "ragchat", "messages": [{"role": "user", "content": "How tall is the Eiffel Tower?"}]}
    usage = api.post("/v1/chat/completions", body, format="json").json()["usage"]
    assert usage["completion_tokens"] == 6

    client.force_login(make_user("staff", is_staff=True, is_superuser=True))
    page = client.get("/admin/sessions_app/tokenusage/").content.decode()
    from tests.test_usage_admin import table

    row = [str(usage[k]) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    assert table(page, "usage-by-user") == [["alice", "1", *row]]
    assert table(page, "usage-by-day")[0][1:] == ["alice", "1", *row]
    by_model = client.get("/admin/sessions_app/tokenusage/?model=upstream-model").content.decode()
    assert table(by_model, "usage-by-user") == [["alice", "1", *row]]
    by_other_model = client.get("/admin/sessions_app/tokenusage/?model=another-model").content.decode()
    assert table(by_other_model, "usage-by-user") == [[]]  # the filters narrow API calls too
    by_other_user = client.get("/admin/sessions_app/tokenusage/?q=bob").content.decode()
    assert table(by_other_user, "usage-by-user") == [[]]


# --- bad input, through Django's test client: always OpenAI's error shape, never a 500 -----------------
@pytest.fixture
def bearer(transactional_db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {Token.objects.create(user=make_user('carol')).key}")
    return api


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


USER = {"role": "user", "content": "Hi"}


@pytest.mark.parametrize("body, param", [
    ([], None), ("text", None), (None, None), ({}, "model"), ({"model": 5, "messages": [USER]}, "model"),
    ({"model": "ragchat"}, "messages"), ({"model": "ragchat", "messages": []}, "messages"),
    ({"model": "ragchat", "messages": "Hi"}, "messages"), ({"model": "ragchat", "messages": [5]}, "messages[0]"),
    ({"model": "ragchat", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"model": "ragchat", "messages": [{"role": ["user"], "content": "x"}]}, "messages[0].role"),
    ({"model": "ragchat", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": "ragchat", "messages": [{"role": "user"}]}, "messages[0].content"),
    ({"model": "ragchat", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content"),
    ({"model": "ragchat", "messages": [{"role": "user", "content": [5]}]}, "messages[0].content"),
    ({"model": "ragchat", "messages": [{"role": "user", "content": "  "}]}, "messages"),
    ({"model": "ragchat", "messages": [{"role": "system", "content": "Be nice."}]}, "messages"),
    ({"model": "ragchat", "messages": [{"role": "user", "content": "x" * 40_000}]}, "messages"),
    ({"model": "ragchat", "messages": [{"role": "system", "content": "x" * 200_000}, USER]}, "messages[0].content"),
    ({"model": "ragchat", "messages": [USER], "n": 3}, "n"), ({"model": "ragchat", "messages": [USER], "n": "1"}, "n"),
    ({"model": "ragchat", "messages": [USER], "stream": "yes"}, "stream"),
    ({"model": "ragchat", "messages": [USER], "temperature": 9}, "temperature"),
    ({"model": "ragchat", "messages": [USER], "temperature": True}, "temperature"),
    ({"model": "ragchat", "messages": [USER], "max_tokens": 0}, "max_tokens"),
    ({"model": "ragchat", "messages": [USER], "max_tokens": 10**30}, "max_tokens"),
    ({"model": "ragchat", "messages": [USER], "stream_options": []}, "stream_options"),
    ({"model": "ragchat", "messages": [USER], "tools": [{"type": "function"}]}, "tools"),
])
def test_a_bad_body_is_400_in_openais_shape(bearer, body, param):
    error = error_of(bearer.post("/v1/chat/completions", json.dumps(body), content_type="application/json"), 400)
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_bodies_that_break_parsers_are_4xx_in_openais_shape(bearer):
    deep = "[" * 100_000 + "]" * 100_000
    error_of(bearer.post("/v1/chat/completions", deep, content_type="application/json"), 400)
    error_of(bearer.post("/v1/chat/completions", "{not json", content_type="application/json"), 400)
    error_of(bearer.post("/v1/chat/completions", "model=ragchat", content_type="text/plain"), 415)
    huge = json.dumps({"model": "ragchat", "messages": [{"role": "user", "content": "x" * 30_000_000}]})
    error_of(bearer.post("/v1/chat/completions", huge, content_type="application/json"), 413)


def test_unknown_paths_and_methods_under_v1_are_openai_errors(bearer, anon_api):
    assert error_of(bearer.get("/v1/nothing/here"), 404)["code"] == "unknown_url"
    assert error_of(anon_api.get("/v1/embeddings"), 404)["code"] == "unknown_url"
    error_of(bearer.get("/v1/chat/completions"), 405)
    error_of(bearer.delete("/v1/models"), 405)
    assert bearer.get("/v1/models/").json()["data"][0]["id"] == "ragchat"  # the trailing slash is optional


def test_no_or_wrong_credentials_are_401_and_sessions_do_not_count(anon_api, transactional_db, client):
    error = error_of(anon_api.get("/v1/models"), 401)
    assert error["code"] == "invalid_api_key"
    client.force_login(make_user("dave"))  # a browser session is not an API key
    error_of(client.get("/v1/models"), 401)
    anon_api.credentials(HTTP_AUTHORIZATION="Bearer " + "0" * 40)
    error_of(anon_api.get("/v1/models"), 401)


def test_limits_apply_429_with_retry_after(bearer, settings, knowledge, transactional_db):
    from django.core.cache import cache

    cache.clear()
    settings.API_RATES = {**settings.API_RATES, "chat": "2/minute"}
    body = {"model": "ragchat", "messages": [{"role": "user", "content": "How tall is the Eiffel Tower?"}]}
    statuses = [bearer.post("/v1/chat/completions", body, format="json").status_code for _ in range(3)]
    assert statuses[:2] == [200, 200]
    error = error_of(bearer.post("/v1/chat/completions", body, format="json"), 429)
    assert error["type"] == "rate_limit_error"

    settings.TOKEN_FAILURES_PER_ADDRESS = 2
    guesser = APIClient(REMOTE_ADDR="10.0.0.99")
    guesser.credentials(HTTP_AUTHORIZATION="Bearer " + "e" * 40)
    statuses = [guesser.get("/v1/models").status_code for _ in range(4)]
    assert statuses == [401, 401, 429, 429]
    assert int(guesser.get("/v1/models")["Retry-After"]) > 0
    cache.clear()
