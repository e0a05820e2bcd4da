"""Every list endpoint pages the same way: {count, next, previous, results}; a client follows `next`."""

from sessions_app.models import ChatSession
from tests.factories import make_document, make_message, make_session


def follow(api, url):
    items, pages = [], 0
    while url:
        body = api.get(url).json()
        items += body["results"]
        url, pages = body["next"], pages + 1
    return items, pages


def test_sessions_page_and_following_next_returns_each_session_once(api, user, settings):
    for n in range(7):
        make_session(user, name=f"chat {n}")
    first = api.get("/api/sessions", {"page_size": 3}).json()
    assert first["count"] == 7 and len(first["results"]) == 3 and first["previous"] is None
    items, pages = follow(api, "/api/sessions?page_size=3")
    assert pages == 3 and sorted(s["name"] for s in items) == [f"chat {n}" for n in range(7)]


def test_messages_page_oldest_first(api, user):
    session = make_session(user)
    sent = [make_message(session, f"message {n}") for n in range(5)]
    items, pages = follow(api, f"/api/sessions/{session.id}/messages?page_size=2")
    assert pages == 3 and [m["id"] for m in items] == [m.id for m in sent]


def test_documents_and_chunks_page(api, settings):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 20, 0
    document = make_document(" ".join(f"Sentence {n} talks about paging through results." for n in range(20)))
    chunks, pages = follow(api, f"/api/documents/{document.pk}/chunks?page_size=2")
    assert len(chunks) == document.chunk_count and pages == -(-document.chunk_count // 2)
    assert [c["position"] for c in chunks] == list(range(document.chunk_count))
    assert api.get("/api/documents").json()["count"] == 1


def test_page_size_is_capped_and_a_page_past_the_end_is_a_json_404(api, user, settings):
    make_session(user)
    assert api.get("/api/sessions", {"page_size": 100000}).status_code == 200
    response = api.get("/api/sessions", {"page": 99})
    assert response.status_code == 404 and response.json()["detail"]
    assert api.get("/api/sessions", {"page": "x"}).status_code == 404


def test_a_page_of_the_chat_list_is_one_query_and_every_page_agrees_with_the_count(api, user, settings,
                                                                                   django_assert_num_queries):
    for n in range(7):
        make_session(user, name=f"chat {n}")
    ChatSession.objects.filter(pk=make_session(user, name="archived").pk).update(archived=True)
    api.get("/api/sessions")
    with django_assert_num_queries(2):  # the token's, then the page with its count
        first = api.get("/api/sessions", {"page_size": 3}).json()
    assert first["count"] == 7 and len(first["results"]) == 3
    last = api.get("/api/sessions", {"page_size": 3, "page": 3}).json()  # its slice ends at the count
    assert last["count"] == 7 and len(last["results"]) == 1 and last["next"] is None
    assert api.get("/api/sessions", {"page_size": 3, "page": "last"}).json()["results"] == last["results"]
    assert api.get("/api/sessions", {"page_size": 3, "page": 4}).status_code == 404
    assert api.get("/api/sessions", {"archived": "true"}).json()["count"] == 1
    ids = [s["id"] for p in (1, 2, 3) for s in api.get("/api/sessions", {"page_size": 3, "page": p}).json()["results"]]
    assert len(set(ids)) == 7
