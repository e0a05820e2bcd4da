"""GET /api/search: the knowledge base's best chunks for a query."""

import pytest

from tests.factories import make_document

pytestmark = pytest.mark.usefixtures("fresh_index")


@pytest.fixture
def knowledge(db):
    return [make_document("The Eiffel Tower is 330 metres tall and stands in Paris.", title="Eiffel Tower"),
            make_document("Sourdough bread is leavened by a starter of wild yeast.", title="Sourdough")]


def test_search_ranks_chunks(api, knowledge):
    response = api.get("/api/search", {"q": "wild yeast starter", "k": 2})
    assert response.status_code == 200
    hits = response.json()
    assert hits[0]["document_title"] == "Sourdough" and "yeast" in hits[0]["text"]
    assert {"chunk_id", "document_id", "document_title", "score", "text"} <= set(hits[0])
    assert len(hits) <= 2


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "  "}, {"q": "x", "k": 0}, {"q": "x", "k": 51},
                                    {"q": "x", "k": "many"}])
def test_search_bad_query_is_400(api, db, params):
    response = api.get("/api/search", params)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


def test_search_needs_a_user(anon_api, db):
    assert anon_api.get("/api/search", {"q": "x"}).status_code in (401, 403)


def test_search_with_k_returns_at_most_k(api, knowledge):
    assert len(api.get("/api/search", {"q": "tower bread yeast", "k": 1}).json()) == 1
    assert len(api.get("/api/search/", {"q": "tower bread yeast"}).json()) == 2


def test_deleted_document_is_not_found(api, knowledge):
    from knowledge.services import document_delete

    assert api.get("/api/search", {"q": "wild yeast"}).json()[0]["document_title"] == "Sourdough"
    document_delete(document=knowledge[1])
    assert all(h["document_title"] != "Sourdough" for h in api.get("/api/search", {"q": "wild yeast"}).json())


def test_hits_come_in_the_order_of_the_score_they_show_with_the_cosine_beside_it(api, db):
    for i in range(6):
        make_document(f"Note {i}: the tower sells bread{i} and yeast, " + "tower " * i, title=f"Note {i}")
    hits = api.get("/api/search", {"q": "tower bread3 yeast", "k": 6}).json()
    assert len(hits) == 6 and hits[0]["document_title"] == "Note 3"  # the only one with the rare word
    scores = [h["score"] for h in hits]
    # The fused score: z-scores over the candidates, so the best stands above 0 and the order is the score's.
    assert scores == sorted(scores, reverse=True) and scores[0] > 0 > scores[-1]
    assert all(-1 <= h["cosine"] <= 1 for h in hits)


def test_the_schema_documents_score_and_cosine(api, db):
    schema = api.get("/api/schema", HTTP_ACCEPT="application/json").json()
    hit = schema["components"]["schemas"]["SearchHit"]["properties"]
    assert "ranked by" in hit["score"]["description"] and "RAG_MIN_SCORE" in hit["cosine"]["description"]


def test_the_search_response_is_what_its_serializer_declares():
    from chat.serializers import SearchHitSerializer
    from knowledge.ranking import Hit

    hits = [Hit(chunk_id=1, document_id=2, document_title="Handbook", score=1.25, cosine=0.5, text="Holiday.",
                page=None, position=0),
            Hit(chunk_id=3, document_id=2, document_title="Handbook", score=-0.5, cosine=0.25, text="Pay.",
                page=4, position=1)]
    assert SearchHitSerializer.items(hits) == SearchHitSerializer(hits, many=True).data
