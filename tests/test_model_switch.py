"""Changing the embedding model without downtime: searches use the old vectors until every chunk has new ones."""

from io import StringIO

import pytest
from django.core.management import call_command

from knowledge import vectors
from knowledge.embeddings import MiniLMEmbedder
from knowledge.models import ChunkVector, Document, IndexState
from tests.factories import make_document

pytestmark = pytest.mark.usefixtures("fresh_index")

VOLCANO = "Volcanoes erupt when magma rises through the crust. Basalt lava flows are runny and hot."
BAKING = "Sourdough bread needs a starter culture of wild yeast. Bake it in a very hot oven."
LOCAL, REMOTE = MiniLMEmbedder.model, "text-embedding-test"


@pytest.fixture
def remote(db, settings, openai_server):
    """A knowledge base embedded locally; then the configuration names an OpenAI-compatible model."""
    make_document(VOLCANO, title="Volcano")

    def configure():
        openai_server.configure(settings, chat=False, embeddings=True)
        settings.OPENAI_EMBEDDING_MODEL = REMOTE

    configure()
    openai_server.configure_remote = configure
    return openai_server


def models_of(document) -> set[str]:
    return set(ChunkVector.objects.filter(document=document).values_list("model", flat=True))


def titles(hits):
    return [h.document_title for h in hits]


def test_searches_use_the_old_vectors_until_the_switch_then_the_new_ones(remote, fresh_index):
    assert titles(fresh_index.search("magma lava")) == ["Volcano"] and fresh_index.model == LOCAL
    vectors.start_switch(REMOTE)
    for document_id in vectors.documents_missing(REMOTE):
        vectors.embed_document(document_id=document_id, model=REMOTE)
    asked = len(remote.embedding_requests())
    assert titles(fresh_index.search("magma lava")) == ["Volcano"] and fresh_index.model == LOCAL
    assert len(remote.embedding_requests()) == asked  # the query was embedded locally, as its vectors were

    assert vectors.switch(REMOTE)
    hits = fresh_index.search(VOLCANO)
    assert fresh_index.model == REMOTE and titles(hits) == ["Volcano"]
    assert hits[0].cosine == pytest.approx(1.0, abs=1e-4)  # the service's vector of the same text
    assert remote.embedding_requests()[-1]["input"] == [VOLCANO]
    assert vectors.remove_other_models(REMOTE) > 0
    assert set(ChunkVector.objects.values_list("model", flat=True)) == {REMOTE}


def test_a_document_ingested_during_a_switch_gets_vectors_of_both_models(remote):
    vectors.start_switch(REMOTE)
    baking = make_document(BAKING, title="Baking")
    assert models_of(baking) == {LOCAL, REMOTE}


def test_after_changing_the_model_new_documents_stay_searchable_until_reindex(remote, fresh_index):
    baking = make_document(BAKING, title="Baking")  # no reindex yet: the index still serves the local model
    assert models_of(baking) == {LOCAL}
    assert titles(fresh_index.search("sourdough yeast"))[0] == "Baking"


def test_the_switch_waits_for_a_document_that_missed_the_new_model_and_reindex_catches_it_up(remote, settings):
    vectors.start_switch(REMOTE)
    for document_id in vectors.documents_missing(REMOTE):
        vectors.embed_document(document_id=document_id, model=REMOTE)
    settings.EMBEDDING_BACKEND = "local"  # a process still configured for the old model...
    remote.fail(500)  # ...while the new model's service fails: the document gets the old vectors only
    baking = make_document(BAKING, title="Baking")
    assert models_of(baking) == {LOCAL}
    assert not vectors.switch(REMOTE)
    assert IndexState.objects.get().active_model == LOCAL

    remote.configure_remote()
    out = StringIO()
    call_command("reindex", stdout=out, stderr=StringIO())
    assert f"Switched to {REMOTE}" in out.getvalue()
    assert IndexState.objects.get().active_model == REMOTE and models_of(baking) == {REMOTE}


def test_reindex_status_shows_the_progress_of_a_switch(remote):
    make_document(BAKING, title="Baking")
    vectors.start_switch(REMOTE)
    vectors.embed_document(document_id=Document.objects.get(title="Volcano").id, model=REMOTE)
    out = StringIO()
    call_command("reindex", "--status", stdout=out)
    assert f"Active model: {LOCAL}" in out.getvalue()
    assert f"Switching to: {REMOTE}: 1 of 2 chunk(s) embedded (50%), 1 document(s) left." in out.getvalue()


def test_a_document_deleted_while_it_is_re_embedded_is_skipped(remote, monkeypatch):
    volcano = Document.objects.get(title="Volcano")
    original = vectors.embed_texts

    def embed_then_delete(embedder, texts):
        matrix = original(embedder, texts)
        volcano.delete()
        return matrix

    monkeypatch.setattr(vectors, "embed_texts", embed_then_delete)
    assert vectors.embed_document(document_id=volcano.id, model=REMOTE) == 0
    assert not ChunkVector.objects.filter(model=REMOTE).exists()
