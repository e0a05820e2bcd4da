"""The migration that moves vectors and term counts to narrow tables carries existing data over, and back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("knowledge", "0004_document_jobs_and_uploads")]
AFTER = [("knowledge", "0005_vectors_in_narrow_tables")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_vectors_and_terms_move_to_their_tables_and_back():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()  # every app: sessions_app depends on knowledge
    try:
        apps = migrate(BEFORE)
        Document, Chunk = apps.get_model("knowledge", "Document"), apps.get_model("knowledge", "Chunk")
        document = Document.objects.create(title="Old", sha256="a" * 64, status="ready", chunk_count=2)
        vectors = [bytes(range(16)), bytes(range(16, 32))]
        for position, vector in enumerate(vectors):
            Chunk.objects.create(document=document, position=position, text=f"text {position}", start_char=0,
                                 end_char=1, embedding=vector, embedding_model="old-model", dims=4,
                                 terms=b"terms %d" % position)

        apps = migrate(AFTER)
        ChunkVector = apps.get_model("knowledge", "ChunkVector")
        ChunkTerms = apps.get_model("knowledge", "ChunkTerms")
        moved = ChunkVector.objects.order_by("chunk__position")
        assert [(v.model, bytes(v.vector), v.document_id) for v in moved] == [
            ("old-model", vectors[0], document.id), ("old-model", vectors[1], document.id)]
        assert sorted(bytes(t.terms) for t in ChunkTerms.objects.all()) == [b"terms 0", b"terms 1"]
        assert apps.get_model("knowledge", "IndexState").objects.get().active_model == "old-model"

        apps = migrate(BEFORE)
        back = apps.get_model("knowledge", "Chunk").objects.order_by("position")
        assert [(bytes(c.embedding), c.embedding_model, c.dims, bytes(c.terms)) for c in back] == [
            (vectors[0], "old-model", 4, b"terms 0"), (vectors[1], "old-model", 4, b"terms 1")]
    finally:
        migrate(latest)
