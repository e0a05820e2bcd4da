"""Ingest with EMBEDDING_BACKEND=openai: the real `openai` SDK over HTTP to tests/openai_server.py."""

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from knowledge import services
from knowledge.embeddings import MiniLMEmbedder
from knowledge.models import Chunk, ChunkVector, Document, IndexState
from tests.factories import make_document

pytestmark = pytest.mark.django_db

TEXT = " ".join(f"Sentence number {i} talks about embeddings over HTTP." for i in range(30))


@pytest.fixture
def openai_embeddings(openai_server, settings):
    openai_server.configure(settings, chat=False, embeddings=True)
    settings.OPENAI_EMBEDDING_MODEL = "text-embedding-test"
    settings.OPENAI_EMBEDDING_BATCH = 3
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 25, 0
    return openai_server


def expected_vector(server, text: str) -> np.ndarray:
    vector = np.array(server.embedding(text), dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_upload_stores_the_servers_vectors_with_model_and_dims(api, openai_embeddings):
    response = api.post("/api/documents?wait=1", {"title": "Remote", "content": TEXT}, format="json")
    assert response.status_code == 201, response.json()
    document = Document.objects.get(pk=response.json()["id"])
    chunks = list(document.chunks.all())
    assert len(chunks) == document.chunk_count > 3
    for chunk in chunks:
        (stored,) = chunk.vectors.all()
        assert stored.model == "text-embedding-test" and len(stored.array) == openai_embeddings.dims
        assert np.allclose(stored.array, expected_vector(openai_embeddings, chunk.text), atol=1e-6)
    shown = api.get(f"/api/documents/{document.pk}/chunks").json()["results"]
    assert shown[0]["embedding_model"] == "text-embedding-test" and shown[0]["dims"] == openai_embeddings.dims
    assert np.allclose(shown[0]["embedding"], chunks[0].vectors.get().array)


def test_chunks_are_sent_in_order_in_batches(openai_embeddings):
    document = services.document_ingest(text=TEXT)
    requests = openai_embeddings.embedding_requests()
    assert [len(r["input"]) for r in requests] == [3] * (document.chunk_count // 3) + (
        [document.chunk_count % 3] if document.chunk_count % 3 else [])
    assert all(r["model"] == "text-embedding-test" for r in requests)
    sent = [text for r in requests for text in r["input"]]
    assert sent == list(document.chunks.values_list("text", flat=True))


def test_provider_error_is_502_and_keeps_a_failed_document_without_chunks(api, openai_embeddings):
    openai_embeddings.fail(500)
    response = api.post("/api/documents?wait=1", {"content": TEXT}, format="json")
    assert response.status_code == 502
    assert "500" in response.json()["detail"]
    assert Document.objects.get().status == Document.Status.FAILED and not Chunk.objects.exists()


def test_failure_on_the_second_batch_leaves_no_chunk(api, openai_embeddings):
    openai_embeddings.slow(0)  # the first request answers normally...
    openai_embeddings.fail(503)  # ...the second one fails
    response = api.post("/api/documents?wait=1", {"content": TEXT}, format="json")
    assert response.status_code == 502
    assert len(openai_embeddings.embedding_requests()) == 2
    assert Document.objects.get().status == Document.Status.FAILED and not Chunk.objects.exists()


def test_unreachable_server_is_502(api, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    settings.OPENAI_API_KEY = "k"
    settings.OPENAI_MAX_RETRIES = 0
    settings.EMBEDDING_BACKEND = "openai"
    response = api.post("/api/documents?wait=1", {"content": "Unreachable."}, format="json")
    assert response.status_code == 502 and "connect" in response.json()["detail"].lower()
    assert Document.objects.get().status == Document.Status.FAILED


def test_reindex_moves_local_vectors_to_the_openai_model(settings, openai_server):
    settings.EMBEDDING_BACKEND = "local"
    make_document(TEXT)
    chunks = set(Chunk.objects.values_list("id", flat=True))
    openai_server.configure(settings, chat=False, embeddings=True)
    settings.OPENAI_EMBEDDING_MODEL = "text-embedding-test"
    call_command("reindex", stdout=StringIO(), stderr=StringIO())
    assert IndexState.objects.get().active_model == "text-embedding-test"
    assert set(ChunkVector.objects.values_list("model", flat=True)) == {"text-embedding-test"}
    assert set(ChunkVector.objects.values_list("chunk_id", flat=True)) == chunks  # the same chunks, new vectors
    assert {len(v.array) for v in ChunkVector.objects.all()} == {openai_server.dims}


def test_reindex_failure_keeps_the_old_chunks(settings, openai_server):
    settings.EMBEDDING_BACKEND = "local"
    document = make_document(TEXT)
    old = list(ChunkVector.objects.values_list("chunk_id", "model"))
    openai_server.configure(settings, chat=False, embeddings=True)
    openai_server.fail(500, times=10)
    with pytest.raises(Exception, match="could not be re-embedded"):
        call_command("reindex", stdout=StringIO(), stderr=StringIO())
    assert list(ChunkVector.objects.values_list("chunk_id", "model")) == old
    assert IndexState.objects.get().active_model == MiniLMEmbedder.model
    document.refresh_from_db()
    assert document.status == Document.Status.READY


def test_command_keeps_text_of_an_embedding_failure_and_reindex_failed_finishes_it(openai_embeddings, tmp_path):
    (tmp_path / "remote.md").write_text(TEXT)
    openai_embeddings.fail(500)
    with pytest.raises(Exception, match="1 file"):
        call_command("ingest", str(tmp_path), "--inline", stdout=StringIO(), stderr=StringIO())
    document = Document.objects.get()
    assert document.status == Document.Status.FAILED and "500" in document.error
    assert document.text == TEXT and document.content_type == "text/markdown" and not document.chunks.exists()

    call_command("reindex", stdout=StringIO(), stderr=StringIO())  # ready documents only: nothing to do
    assert Document.objects.get().status == Document.Status.FAILED
    out = StringIO()
    call_command("reindex", "--failed", stdout=out, stderr=StringIO())
    assert "Re-embedded 1 document(s); failed 0." in out.getvalue()
    document.refresh_from_db()
    assert document.status == Document.Status.READY and document.error == ""
    assert document.chunks.count() == document.chunk_count > 1
    assert set(ChunkVector.objects.filter(document=document).values_list("model", flat=True)) == {
        "text-embedding-test"}
