"""The Django admin for documents: list, search, upload (queued on save), progress, retry, re-embed, delete;
chunks read-only."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from knowledge.models import Chunk, Document
from tests.factories import make_document, run_queued
from tests.files import make_docx, make_pdf

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/knowledge/document/add/"
LIST_URL = "/admin/knowledge/document/"


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_changelist_shows_status_size_chunks_and_uploader(admin_client, user):
    make_document("Alpha text. " * 50, title="Alpha guide", user=user)
    page = admin_client.get(LIST_URL).content.decode()
    assert "Alpha guide" in page and "Ready" in page and "alice" in page
    assert "600\xa0bytes" in page  # filesizeformat of 12 * 50 bytes


def test_search_by_title(admin_client):
    make_document("One.", title="Kubernetes notes")
    make_document("Two.", title="Gardening diary")
    page = admin_client.get(LIST_URL, {"q": "kubernetes"}).content.decode()
    assert "Kubernetes notes" in page and "Gardening diary" not in page


def test_add_page_is_a_file_upload_form(admin_client):
    page = admin_client.get(ADD_URL).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page and 'name="title"' in page


def test_upload_through_admin_is_queued_then_processed(admin_client, staff_user):
    upload = SimpleUploadedFile("handbook.docx", make_docx(["The handbook explains onboarding."]))
    response = admin_client.post(ADD_URL, {"file": upload, "title": ""}, follow=True)
    assert "is queued" in response.content.decode()
    document = Document.objects.get()
    assert document.status == Document.Status.PENDING and document.uploaded_by == staff_user
    assert "Queued" in admin_client.get(LIST_URL).content.decode()
    run_queued()
    document.refresh_from_db()
    assert document.title == "handbook" and document.status == Document.Status.READY
    assert document.chunks.count() == document.chunk_count >= 1
    assert "onboarding" in document.text


def test_upload_with_title(admin_client):
    upload = SimpleUploadedFile("a.pdf", make_pdf(["PDF through the admin."]))
    assert admin_client.post(ADD_URL, {"file": upload, "title": "Admin PDF"}).status_code == 302
    run_queued()
    assert Document.objects.get().title == "Admin PDF"


def test_cheap_refusals_show_on_the_form_and_store_nothing(admin_client):
    for name, data, reason in (("empty.txt", b"", "empty"), ("photo.png", b"\x89PNG...", "Unsupported"),
                               ("fake.pdf", b"hello", "not a PDF")):
        response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile(name, data), "title": ""})
        assert response.status_code == 200 and reason in response.content.decode()
    assert not Document.objects.exists()


def test_broken_upload_is_listed_failed_with_the_reason(admin_client):
    upload = SimpleUploadedFile("broken.pdf", b"%PDF-1.4\nthis is not really a pdf")
    assert admin_client.post(ADD_URL, {"file": upload, "title": "Broken"}).status_code == 302
    run_queued()
    document = Document.objects.get()
    assert document.status == Document.Status.FAILED and "damaged" in document.error
    assert document.title == "Broken" and not Chunk.objects.exists()
    assert "The PDF is damaged" in admin_client.get(LIST_URL).content.decode()


@pytest.fixture
def failed_upload(admin_client, monkeypatch):
    """A document uploaded through the admin whose job failed (the embedding service was down); it is back up."""
    from knowledge import services

    embedder = services.get_embedder()
    with monkeypatch.context() as patched:
        patched.setattr(embedder, "embed", lambda texts: (_ for _ in ()).throw(services.ProviderError("down")))
        admin_client.post(ADD_URL, {"file": SimpleUploadedFile("n.txt", b"Retry me."), "title": ""})
        run_queued()
    return Document.objects.get()


def test_retry_action_queues_failed_documents_again(admin_client, failed_upload):
    document = failed_upload
    assert document.status == Document.Status.FAILED and "down" in document.error
    response = admin_client.post(LIST_URL, {"action": "retry", "_selected_action": [document.pk]}, follow=True)
    assert "Queued 1 document(s) again" in response.content.decode()
    run_queued()
    document.refresh_from_db()
    assert document.status == Document.Status.READY and document.error == "" and document.chunk_count == 1


def test_retry_action_refuses_a_ready_document(admin_client):
    document = make_document("Fine as it is.")
    response = admin_client.post(LIST_URL, {"action": "retry", "_selected_action": [document.pk]}, follow=True)
    assert "Only a failed document can be retried" in response.content.decode()


def test_the_same_bytes_again_replace_a_failed_record(admin_client, failed_upload):
    failed = failed_upload
    assert admin_client.post(ADD_URL, {"file": SimpleUploadedFile("n.txt", b"Retry me.")}).status_code == 302
    run_queued()
    document = Document.objects.get()
    assert document.pk != failed.pk and document.status == Document.Status.READY


def test_duplicate_upload_is_an_error_on_the_form(admin_client):
    existing = make_document("Same content.")
    response = admin_client.post(ADD_URL, {"file": SimpleUploadedFile("same.txt", b"Same content.")})
    assert response.status_code == 200 and "already uploaded" in response.content.decode()
    assert list(Document.objects.all()) == [existing]


def test_reembed_action_rechunks_and_bumps_updated_at(admin_client, settings):
    document = make_document(" ".join(f"Sentence {i} about re-embedding." for i in range(40)))
    before = (document.chunk_count, document.updated_at)
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 20, 0
    response = admin_client.post(LIST_URL, {"action": "reembed", "_selected_action": [document.pk]}, follow=True)
    assert "Re-embedded 1 document" in response.content.decode()
    document.refresh_from_db()
    assert document.chunk_count > before[0] and document.updated_at > before[1]
    assert document.chunks.count() == document.chunk_count
    assert all(c.token_count <= 20 for c in document.chunks.all())


def test_delete_through_admin_removes_chunks(admin_client):
    document = make_document("Delete me.")
    response = admin_client.post(f"/admin/knowledge/document/{document.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Document.objects.exists() and not Chunk.objects.exists()


def test_bulk_delete_action_removes_chunks(admin_client):
    docs = [make_document("First."), make_document("Second.")]
    admin_client.post(LIST_URL, {"action": "delete_selected", "_selected_action": [d.pk for d in docs],
                                 "post": "yes"})
    assert not Document.objects.exists() and not Chunk.objects.exists()


def test_document_change_page_renders_and_edits_only_the_title_and_collection(admin_client):
    document = make_document("Editable title.", title="Old")
    url = f"/admin/knowledge/document/{document.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "Editable title." in page and "1 chunk</a>" in page
    assert admin_client.post(url, {"title": "New", "collection": document.collection_id}).status_code == 302
    document.refresh_from_db()
    assert document.title == "New" and document.text == "Editable title."


def test_chunks_are_read_only_in_admin(admin_client):
    document = make_document("Chunk to look at.")
    chunk = document.chunks.get()
    assert admin_client.get("/admin/knowledge/chunk/").status_code == 200
    assert "Chunk to look at." in admin_client.get(f"/admin/knowledge/chunk/{chunk.pk}/change/").content.decode()
    assert admin_client.get("/admin/knowledge/chunk/add/").status_code == 403
    admin_client.post(f"/admin/knowledge/chunk/{chunk.pk}/change/", {"text": "edited"})
    chunk.refresh_from_db()
    assert chunk.text == "Chunk to look at."


def test_non_staff_cannot_use_the_admin(user):
    client = Client()
    client.force_login(user)
    assert client.get(LIST_URL).status_code == 302
    assert client.post(ADD_URL, {"file": SimpleUploadedFile("x.txt", b"x")}).status_code == 302
    assert not Document.objects.exists()
