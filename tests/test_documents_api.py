"""Documents through the REST API: upload of every format, reading chunks, deleting, and every bad input.

Uploads here pass `wait`, so the whole job runs within the request and its outcome is the answer; what an
upload without `wait` does (202, queued) is in test_document_jobs.py."""

import json
import uuid

import numpy as np
import pytest

from knowledge import services
from knowledge.lexical import pack_terms
from knowledge.models import Chunk, ChunkVector, Document
from tests.factories import make_document
from tests.files import make_docx, make_encrypted_pdf, make_pdf, make_png, make_zip_bomb_docx

pytestmark = pytest.mark.django_db

DOC_FIELDS = {"id", "title", "filename", "content_type", "size", "sha256", "status", "stage", "pages_read",
              "page_count", "chunks_embedded", "chunk_count", "attempts", "error", "error_kind", "uploaded_by",
              "collection", "collection_name", "created_at", "updated_at", "can_delete", "can_retry", "has_original"}


def multipart(filename: str, data: bytes, title: str | None = None, client_type: str = "application/octet-stream"):
    """A hand-built multipart body, so the file name reaches the server exactly as given (the test client
    would strip its path parts itself)."""
    boundary = uuid.uuid4().hex
    parts = []
    if title is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n'.encode()
                     + title.encode() + b"\r\n")
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
                 f"Content-Type: {client_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(client, filename: str, data: bytes, wait: bool = True, **kwargs):
    body, content_type = multipart(filename, data, **kwargs)
    return client.generic("POST", "/api/documents?wait=true" if wait else "/api/documents", body,
                          content_type=content_type)


def post_text(client, content: str, **fields):
    return client.post("/api/documents?wait=1", {"content": content, **fields}, format="json")


def assert_nothing_stored():
    assert Document.objects.count() == 0
    assert Chunk.objects.count() == 0


def assert_kept_failed(reason: str = ""):
    """A job that failed keeps its document, marked failed with the reason, without any chunk."""
    document = Document.objects.get()
    assert document.status == Document.Status.FAILED and reason in document.error and document.error
    assert document.chunk_count == 0 and not Chunk.objects.exists()


# --- uploads that work -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("filename", "data", "content_type", "phrase"),
    [
        ("notes.txt", "Plain notes about the 🙂 ocean.".encode(), "text/plain", "ocean"),
        ("guide.md", b"# Guide\n\nMarkdown about mountains.", "text/markdown", "mountains"),
        ("table.csv", b"city,river\nParis,Seine\n", "text/csv", "Seine"),
        ("data.json", b'{"planet": "Jupiter"}', "application/json", "Jupiter"),
        ("page.html", b"<p>Visible volcanoes</p><script>hidden()</script>", "text/html", "volcanoes"),
        ("report.pdf", make_pdf(["A PDF about glaciers."]), "application/pdf", "glaciers"),
        ("letter.docx", make_docx(["A Word file about deserts."]),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "deserts"),
    ],
    ids=["txt", "md", "csv", "json", "html", "pdf", "docx"],
)
def test_upload_each_format_returns_201_ready_with_chunks(api, user, filename, data, content_type, phrase):
    response = upload(api, filename, data)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == DOC_FIELDS
    assert body["status"] == "ready" and body["filename"] == filename and body["content_type"] == content_type
    assert body["size"] == len(data) and body["chunk_count"] >= 1 and body["uploaded_by"] == "alice"
    assert body["can_delete"] is True
    document = Document.objects.get(pk=body["id"])
    assert phrase in document.text and document.uploaded_by == user
    assert document.chunks.count() == body["chunk_count"]
    assert all(bytes(c.term_counts.terms) == pack_terms(c.text) for c in document.chunks.all())  # BM25 loads these
    assert "hidden" not in document.text


def test_client_content_type_is_ignored(api):
    response = upload(api, "notes.txt", b"Just text.", client_type="application/pdf")
    assert response.status_code == 201
    assert response.json()["content_type"] == "text/plain"


def test_title_from_form_or_from_file_name(api):
    assert upload(api, "q3-report.txt", b"Numbers.", title="  Q3   report ").json()["title"] == "Q3 report"
    assert upload(api, "q4-report.txt", b"Other numbers.").json()["title"] == "q4-report"


def test_markdown_file_is_titled_by_its_top_heading(api):
    body = upload(api, "team-handbook.md", b"# Team handbook: remote work\n\nWork from anywhere.").json()
    assert body["title"] == "Team handbook: remote work" and body["filename"] == "team-handbook.md"
    assert upload(api, "notes.md", b"## Not a top heading\n\nText.").json()["title"] == "notes"


def test_raw_text_upload_as_json(api):
    response = post_text(api, "Pasted text about owls.", title="Pasted")
    assert response.status_code == 201
    body = response.json()
    assert body["title"] == "Pasted" and body["content_type"] == "text/plain" and body["filename"] == ""
    assert Document.objects.get(pk=body["id"]).text == "Pasted text about owls."


def test_raw_text_without_title_is_titled_by_its_first_line(api):
    body = api.post("/api/documents/?wait=true", {"content": "\n# Owl facts\nOwls hunt at night."},
                    format="json").json()
    assert body["title"] == "Owl facts"


def test_pdf_chunks_carry_page_numbers(api, settings):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 12, 0
    pages = [f"Page {n} says something rather long about topic {n} here." for n in range(1, 4)]
    body = upload(api, "pages.pdf", make_pdf(pages)).json()
    chunks = api.get(f"/api/documents/{body['id']}/chunks").json()["results"]
    assert {c["page"] for c in chunks} == {1, 2, 3}
    for chunk in chunks:
        assert f"topic {chunk['page']}" in chunk["text"] or f"Page {chunk['page']}" in chunk["text"]


# --- reading -----------------------------------------------------------------------------------------

def test_every_user_lists_and_reads_all_documents(api, other_api, user):
    document = make_document("Shared knowledge.", title="Shared", user=user)
    listed = other_api.get("/api/documents").json()["results"]
    assert [d["id"] for d in listed] == [document.pk]
    assert listed[0]["can_delete"] is False and listed[0]["uploaded_by"] == "alice"
    assert other_api.get(f"/api/documents/{document.pk}/").json()["title"] == "Shared"
    assert api.get("/api/documents/").json()["results"][0]["can_delete"] is True


def test_list_is_newest_first(api):
    first = make_document("First one.")
    second = make_document("Second one.")
    assert [d["id"] for d in api.get("/api/documents").json()["results"]] == [second.pk, first.pk]


def test_missing_document_is_404_json(api):
    for response in (api.get("/api/documents/999999"), api.get("/api/documents/not-a-number/chunks"),
                     api.delete("/api/documents/999999")):
        assert response.status_code == 404 and "detail" in response.json()


def test_chunks_endpoint_shows_vectors_as_json(api, settings):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 20, 5
    text = " ".join(f"Sentence number {i} is about retrieval." for i in range(30))
    document = make_document(text)
    chunks = api.get(f"/api/documents/{document.pk}/chunks/").json()["results"]
    assert len(chunks) == document.chunk_count > 1
    stored = {v.chunk_id: v for v in ChunkVector.objects.filter(document=document)}
    for i, chunk in enumerate(chunks):
        assert chunk["position"] == i
        assert chunk["text"] == document.text[chunk["start_char"]:chunk["end_char"]]
        assert chunk["embedding_model"] == services.get_embedder().model
        assert chunk["dims"] == len(chunk["embedding"]) == services.get_embedder().dims
        assert np.allclose(chunk["embedding"], stored[chunk["id"]].array)
        assert abs(np.linalg.norm(chunk["embedding"]) - 1) < 1e-5
        assert chunk["token_count"] <= 20 and chunk["page"] is None


def test_anonymous_is_refused(anon_api):
    assert anon_api.get("/api/documents").status_code in (401, 403)
    assert anon_api.post("/api/documents", {"content": "x"}, format="json").status_code in (401, 403)
    assert Document.objects.count() == 0


# --- deleting ----------------------------------------------------------------------------------------

def test_uploader_deletes_document_and_its_chunks(api, user):
    document = make_document("Going away soon.", user=user)
    assert api.delete(f"/api/documents/{document.pk}").status_code == 204
    assert_nothing_stored()


def test_other_users_delete_is_404_and_keeps_the_document(other_api, user):
    document = make_document("Stays put.", user=user)
    assert other_api.delete(f"/api/documents/{document.pk}/").status_code == 404
    assert Document.objects.filter(pk=document.pk).exists() and document.chunks.exists()


def test_staff_may_delete_anyones_document(staff_user, user):
    from rest_framework.test import APIClient

    document = make_document("Moderated.", user=user)
    client = APIClient()
    client.force_authenticate(staff_user)
    assert client.delete(f"/api/documents/{document.pk}").status_code == 204
    assert not Document.objects.exists()


# --- duplicates --------------------------------------------------------------------------------------

def test_duplicate_upload_returns_409_with_existing_document(api, other_api):
    first = upload(api, "a.txt", b"Same bytes.").json()
    response = upload(other_api, "renamed.txt", b"Same bytes.")
    assert response.status_code == 409
    assert response.json()["document"]["id"] == first["id"] and "detail" in response.json()
    assert Document.objects.count() == 1


def test_duplicate_raw_text_returns_409(api):
    post_text(api, "Twice.")
    assert post_text(api, "Twice.").status_code == 409


# --- bad input ---------------------------------------------------------------------------------------

def test_file_over_the_limit_is_413(api, settings):
    settings.DOCUMENT_MAX_BYTES = 1000
    response = upload(api, "big.txt", b"word " * 300)
    assert response.status_code == 413 and "detail" in response.json()
    assert_nothing_stored()


def test_body_over_the_limit_is_413_before_parsing(api, settings, monkeypatch):
    settings.DOCUMENT_MAX_BYTES = 1000
    monkeypatch.setattr(services, "sniff", lambda *a, **k: pytest.fail("parsed an oversized upload"))
    response = upload(api, "big.txt", b"x" * 200_000)
    assert response.status_code == 413
    assert_nothing_stored()


def test_raw_text_over_the_limit_is_413(api, settings):
    settings.DOCUMENT_MAX_BYTES = 1000
    response = api.post("/api/documents", {"content": "y" * 2000}, format="json")
    assert response.status_code == 413
    assert_nothing_stored()


def test_request_data_too_big_is_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # Django's own limit for the non-file fields
    response = upload(api, "a.txt", b"small", title="t" * 250)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json" and "request is larger" in response.json()["detail"]
    response = api.post("/api/documents", {"content": "z " * 500}, format="json")
    assert response.status_code == 413 and "request is larger" in response.json()["detail"]
    assert_nothing_stored()


@pytest.mark.parametrize("data", [b"", b"   \n\n  "])
def test_empty_file_is_400(api, data):
    response = upload(api, "empty.txt", data)
    assert response.status_code == 400 and "detail" in response.json()
    assert_nothing_stored()


def test_pdf_without_text_is_400(api):
    response = upload(api, "blank.pdf", make_pdf([""]))
    assert response.status_code == 400 and "No text could be read" in response.json()["detail"]
    assert_kept_failed("No text")


def test_empty_raw_text_is_400(api):
    assert api.post("/api/documents", {"content": "  \n "}, format="json").status_code == 400
    assert_nothing_stored()


def test_neither_file_nor_content_is_400(api):
    assert api.post("/api/documents", {"title": "nothing"}, format="json").status_code == 400


@pytest.mark.parametrize("title", ["bad\x07title", "trailing\x85", "\x1cleading", "over\u202eride"])
def test_title_with_control_characters_is_400(api, title):
    response = api.post("/api/documents", {"title": title, "content": "text"}, format="json")
    assert response.status_code == 400
    body, content_type = multipart("notes.txt", b"Some notes.", title=title)
    assert api.generic("POST", "/api/documents", body, content_type=content_type).status_code == 400
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("photo.txt", make_png()),
        ("report.pdf", b"<html><body>I am HTML</body></html>"),
        ("letter.docx", b"Plain text pretending."),
        ("tool.exe", b"MZ\x90\x00binary"),
        ("image.png", make_png()),
    ],
    ids=["png-as-txt", "html-as-pdf", "text-as-docx", "exe", "png"],
)
def test_unsupported_type_is_415(api, filename, data):
    response = upload(api, filename, data)
    assert response.status_code == 415 and "detail" in response.json()
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("cut.pdf", make_pdf(["Truncated text."])[:150]),
        ("locked.pdf", make_encrypted_pdf("Top secret.")),
        ("broken.docx", b"PK\x03\x04" + b"\x00junk" * 100),
        ("bomb.docx", make_zip_bomb_docx(uncompressed_mb=20)),
    ],
    ids=["truncated-pdf", "encrypted-pdf", "broken-docx", "zip-bomb-docx"],
)
def test_corrupt_encrypted_or_bomb_files_are_422_and_server_keeps_serving(api, filename, data):
    response = upload(api, filename, data)
    assert response.status_code == 422 and response.json()["detail"]
    assert response.json()["document"]["status"] == "failed"
    assert_kept_failed(response.json()["detail"])
    assert upload(api, "after.txt", b"Still serving.").status_code == 201


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/abs/path/notes.md", "notes.md"),
        ("C:\\Windows\\win.txt", "win.txt"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("a" * 250 + "🙂" * 50 + ".txt", "a" * 250 + "🙂" + ".txt"),
        ("😀 résumé ✓.txt", "😀 résumé ✓.txt"),
    ],
    ids=["relative", "absolute", "windows", "nul", "long-emoji", "emoji"],
)
def test_file_name_is_display_text_only(api, raw, shown):
    response = upload(api, raw, f"Content for {len(raw)} {raw[:5]!r}.".encode())
    assert response.status_code == 201, response.json()
    assert response.json()["filename"] == shown
    assert Document.objects.get().filename == shown
    assert json.dumps(api.get("/api/documents").json())  # the list still renders


def test_file_name_beyond_djangos_header_limit_is_a_clean_400(api):
    response = upload(api, "🙂" * 300 + ".txt", b"Text.")  # 1.2 kB of header: Django's multipart limit
    assert response.status_code == 400 and "detail" in response.json()
    assert_nothing_stored()


# --- atomicity ---------------------------------------------------------------------------------------

def test_embedding_failure_half_way_stores_nothing(api, settings, monkeypatch):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 10, 0
    monkeypatch.setattr(services, "EMBED_BATCH", 2)
    embedder = services.get_embedder()
    calls = []
    real_embed = embedder.embed

    def embed_then_fail(texts):
        calls.append(len(texts))
        if len(calls) == 2:
            raise services.ProviderError("The model service answered with an error (500).")
        return real_embed(texts)

    monkeypatch.setattr(embedder, "embed", embed_then_fail)
    text = " ".join(f"Sentence {i} has a few words." for i in range(20))
    response = post_text(api, text)
    assert response.status_code == 502
    assert "500" in response.json()["detail"]
    assert len(calls) == 2
    assert_kept_failed("500")
    assert Document.objects.get().text == text  # kept, so that a retry only embeds


def test_database_failure_while_writing_chunks_leaves_no_chunk(api, monkeypatch):
    from django.db import IntegrityError

    def broken_store(document, chunks, vectors, model):
        Chunk.objects.create(document=document, position=0, text="x", start_char=0, end_char=1)
        raise IntegrityError("disk full, say")

    monkeypatch.setattr(services, "_store_chunks", broken_store)
    with pytest.raises(services.IngestError, match="unexpected error"):
        services.document_ingest(text="Some text.")
    assert_kept_failed("unexpected error")


def test_vectors_of_different_widths_are_502_and_store_nothing(api, settings, monkeypatch):
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 10, 0
    monkeypatch.setattr(services, "EMBED_BATCH", 2)
    widths = iter([8, 16, 16, 16, 16, 16])
    embedder = services.get_embedder()
    monkeypatch.setattr(embedder, "embed", lambda texts: np.ones((len(texts), next(widths)), dtype=np.float32))
    text = " ".join(f"Sentence {i} has a few words." for i in range(8))
    response = post_text(api, text)
    assert response.status_code == 502
    assert_kept_failed("different sizes")


def test_same_bytes_stored_by_a_concurrent_request_becomes_409(api, monkeypatch):
    real = services.sniff
    raced = []

    def racing(data, filename):
        if not raced:  # another request stores the same content while this one checks it
            raced.append(None)
            raced[0] = services.document_ingest(data=data, filename="other.txt")
        return real(data, filename)

    monkeypatch.setattr(services, "sniff", racing)
    response = upload(api, "raced.txt", b"Raced content.")
    assert response.status_code == 409
    assert response.json()["document"]["id"] == raced[0].pk
    assert Document.objects.count() == 1 and Chunk.objects.count() == raced[0].chunk_count


# --- what search sees --------------------------------------------------------------------------------

def test_only_ready_documents_are_searchable(monkeypatch):
    from knowledge.index import reset_index, search

    reset_index()  # ids are reused after rolled-back tests
    kept = make_document("Penguins live in Antarctica and eat krill.")
    embedder = services.get_embedder()
    real_embed = embedder.embed

    def fail(texts):
        raise services.ProviderError("The model service answered with an error (500).")

    monkeypatch.setattr(embedder, "embed", fail)
    with pytest.raises(services.EmbeddingFailed) as failure:
        services.document_ingest(text="Zebras graze on the savanna grasslands.")
    monkeypatch.setattr(embedder, "embed", real_embed)
    failed = failure.value.document
    assert failed.status == Document.Status.FAILED and failed.text  # its text is kept, for a retry

    assert search("penguins krill", k=3)[0].document_id == kept.pk
    assert all(hit.document_id != failed.pk for hit in search("zebras savanna grasslands", k=5))
    services.document_delete(document=kept)
    assert all(hit.document_id != kept.pk for hit in search("penguins krill", k=5))
