"""The reader's window of a document's text: the cited chunk, its neighbours, its page, and the windows around."""

import pytest

from knowledge.models import Chunk, Document
from knowledge.reading import CHUNKS_BEFORE
from tests.factories import make_document
from tests.files import make_pdf
from tests.test_documents_api import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_document(settings):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 40, 10
    paragraphs = [f"Paragraph {n} says that rule number {n} applies to section {n} of the handbook. " * 3
                  for n in range(60)]
    document = make_document("\n\n".join(paragraphs), title="Long handbook")
    assert document.chunk_count > 20
    return document


def window(client, document_id, **query):
    return client.get(f"/api/documents/{document_id}/text", query)


def test_the_window_holds_the_cited_chunk_highlighted_by_its_range(api, long_document):
    cited = Chunk.objects.get(document=long_document, position=10)
    response = window(api, long_document.pk, chunk=cited.pk)
    assert response.status_code == 200
    body = response.json()
    assert body["chunk"] == {"id": cited.pk, "position": 10, "start_char": cited.start_char,
                             "end_char": cited.end_char, "page": None}
    assert body["first_position"] == 10 - CHUNKS_BEFORE
    assert [c["position"] for c in body["chunks"]] == list(range(8, 16))
    start = body["start_char"]
    assert body["text"][cited.start_char - start:cited.end_char - start] == cited.text
    assert body["text"] == long_document.text[start:body["end_char"]]
    assert body["length"] == len(long_document.text) and body["document"]["title"] == "Long handbook"
    assert body["pages"] == []


def test_windows_tile_the_text_without_repeating_it(api, long_document):
    texts, url, seen = [], f"/api/documents/{long_document.pk}/text?position=0&count=7", []
    while url:
        body = api.get(url).json()
        texts.append(body["text"])
        seen += [c["position"] for c in body["chunks"]]
        url = body["next"]
    assert "".join(texts) == long_document.text
    assert seen == list(range(long_document.chunk_count))
    first = api.get(f"/api/documents/{long_document.pk}/text", {"position": 7, "count": 7}).json()
    previous = api.get(first["previous"]).json()
    assert previous["first_position"] == 0 and previous["previous"] is None
    assert previous["end_char"] == first["start_char"]


def test_a_cited_chunk_wins_over_a_position(api, long_document):
    cited = Chunk.objects.get(document=long_document, position=12)
    body = window(api, long_document.pk, chunk=cited.pk, position=0).json()
    assert body["chunk"]["id"] == cited.pk and body["first_position"] == 12 - CHUNKS_BEFORE


def test_a_window_is_bounded(api, long_document):
    body = window(api, long_document.pk, position=0, count=50).json()
    assert len(body["chunks"]) == min(50, long_document.chunk_count)
    assert window(api, long_document.pk, count=51).status_code == 400
    assert len(window(api, long_document.pk).json()["chunks"]) == 8  # the default


def test_a_pdf_window_says_which_page_each_part_is_on(api):
    pages = [f"Page {n} holds rule {n}: staff take {n} days of leave." for n in range(1, 5)]
    document_id = upload(api, "rules.pdf", make_pdf(pages)).json()["id"]
    document = Document.objects.get(pk=document_id)
    last = Chunk.objects.filter(document=document).order_by("position").last()
    body = window(api, document_id, chunk=last.pk).json()
    assert body["chunk"]["page"] == last.page >= 1
    assert body["pages"][0]["page"] == 1 and body["pages"][0]["start_char"] == 0
    assert [p["page"] for p in body["pages"]] == [1, 2, 3, 4]
    for page in body["pages"]:
        assert document.text[page["start_char"]:].startswith(f"Page {page['page']} holds")


def test_a_chunk_of_another_document_or_a_gone_chunk_is_404(api, long_document):
    other = make_document("Another document about parking spaces.")
    chunk = Chunk.objects.filter(document=other).first()
    response = window(api, long_document.pk, chunk=chunk.pk)
    assert response.status_code == 404 and "not in this document" in response.json()["detail"]
    assert window(api, long_document.pk, position=long_document.chunk_count).status_code == 404
    assert window(api, 999999).status_code == 404


def test_an_unreadable_document_is_404_and_anonymous_is_refused(api, anon_api, long_document, monkeypatch):
    assert window(anon_api, long_document.pk).status_code in (401, 403)
    monkeypatch.setattr(type(Document.objects.all()), "readable_by", lambda self, user: self.none())
    assert window(api, long_document.pk).status_code == 404


def test_a_document_not_ready_is_409(api):
    document_id = upload(api, "notes.txt", b"Some notes about leave.", wait=False).json()["id"]
    response = window(api, document_id)
    assert response.status_code == 409 and "not ready" in response.json()["detail"]


@pytest.mark.parametrize("query", [{"chunk": "x"}, {"position": -1}, {"count": 0}, {"chunk": 2**64}])
def test_bad_queries_are_400(api, long_document, query):
    response = window(api, long_document.pk, **query)
    assert response.status_code == 400 and response.json()
