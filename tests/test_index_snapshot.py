"""Processes of one machine share the index through a snapshot file: the first one writes it, the others map it."""

import numpy as np
import pytest

from knowledge import stored_rows
from knowledge.index import ChunkIndex
from knowledge.models import IndexState
from knowledge.services import document_delete
from tests.factories import make_document

VOLCANO = "Volcanoes erupt when magma rises through the crust. Basalt lava flows are runny and hot."
BAKING = "Sourdough bread needs a starter culture of wild yeast. Bake it in a very hot oven."


@pytest.fixture
def shared(settings, tmp_path):
    settings.EMBEDDING_BACKEND = "hashed"  # matches by shared words: what each process must find is clear-cut
    settings.INDEX_SNAPSHOT_DIR = str(tmp_path)
    settings.INDEX_SNAPSHOT_MIN_ROWS = 0
    return tmp_path


def titles(hits):
    return [h.document_title for h in hits]


def no_full_reads(monkeypatch):
    original = stored_rows.read_rows

    def only_some_documents(model, documents, keep, **kwargs):
        assert documents is not None, "read every vector from the database instead of mapping the snapshot"
        return original(model, documents, keep, **kwargs)

    monkeypatch.setattr(stored_rows, "read_rows", only_some_documents)


def test_a_second_process_maps_the_snapshot_the_first_one_wrote(db, shared, monkeypatch):
    make_document(VOLCANO, title="Volcano")
    make_document(BAKING, title="Baking")
    first = ChunkIndex()
    assert titles(first.search("magma lava")) == ["Volcano"]
    assert len(list(shared.glob("*.idx"))) == 1
    no_full_reads(monkeypatch)
    second = ChunkIndex()
    assert titles(second.search("magma lava")) == ["Volcano"]
    assert titles(second.search("sourdough yeast")) == ["Baking"]
    base = second._held.vectors.view().base
    assert not base.flags.writeable and second._held.mapped is not None  # a view of the file, not a copy


def test_changes_after_the_snapshot_are_seen_by_a_process_that_maps_it(db, shared, monkeypatch):
    volcano = make_document(VOLCANO, title="Volcano")
    ChunkIndex().search("magma")  # writes the snapshot
    document_delete(document=volcano)
    make_document("Glaciers carve valleys out of granite.", title="Glacier")
    no_full_reads(monkeypatch)
    index = ChunkIndex()
    assert titles(index.search("glaciers granite")) == ["Glacier"]
    assert index.search("magma basalt lava") == []
    assert index.size == 1


def test_a_snapshot_of_another_database_is_never_used(db, shared):
    make_document(VOLCANO, title="Volcano")
    ChunkIndex().search("magma")
    IndexState.objects.update(instance="00000000-0000-0000-0000-000000000001")  # as a different database would
    index = ChunkIndex()
    assert titles(index.search("magma")) == ["Volcano"]
    assert len(list(shared.glob("*.idx"))) == 2  # it wrote its own


def test_a_damaged_snapshot_is_ignored(db, shared):
    make_document(VOLCANO, title="Volcano")
    ChunkIndex().search("magma")
    (path,) = shared.glob("*.idx")
    path.write_bytes(b"not a snapshot at all")
    assert titles(ChunkIndex().search("magma")) == ["Volcano"]


def test_a_new_base_adopts_the_snapshot_another_process_wrote_meanwhile(db, shared):
    make_document(VOLCANO, title="Volcano")
    first, second = ChunkIndex(), ChunkIndex()
    first.search("magma")
    second.search("magma")
    assert first._held.mapped.path == second._held.mapped.path
    make_document(BAKING, title="Baking")
    first.search("bread")
    first._rebase()  # writes a newer snapshot with both documents
    second.search("bread")
    second._rebase()  # finds it, and maps it instead of reading the database again
    assert second._held.mapped.path == first._held.mapped.path != None  # noqa: E711
    assert titles(second.search("sourdough yeast")) == ["Baking"]
    assert np.array_equal(np.sort(second._held.vectors.view().base_ids), np.sort(first._held.vectors.view().base_ids))


def test_without_a_snapshot_folder_every_process_holds_its_own_rows(db, settings):
    settings.INDEX_SNAPSHOT_DIR = ""
    make_document(VOLCANO, title="Volcano")
    index = ChunkIndex()
    assert titles(index.search("magma")) == ["Volcano"]
    assert index._held.mapped is None


def test_a_snapshot_folder_that_cannot_be_written_leaves_each_process_its_own_copy(db, settings, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    settings.INDEX_SNAPSHOT_DIR = str(blocked / "index")
    settings.INDEX_SNAPSHOT_MIN_ROWS = 0
    make_document(VOLCANO, title="Volcano")
    index = ChunkIndex()
    assert titles(index.search("magma")) == ["Volcano"] and index._held.mapped is None


@pytest.mark.django_db(transaction=True)
def test_a_cold_load_over_parallel_connections_reads_every_row(shared, monkeypatch):
    from django.db import connection

    if connection.vendor != "mysql":
        pytest.skip("parallel range reads are for MySQL/MariaDB")
    monkeypatch.setattr(stored_rows, "PARALLEL_OVER", 0)
    documents = [make_document(f"Document {i} is about item{i}.", title=f"D{i}") for i in range(6)]
    index = ChunkIndex()
    assert titles(index.search("item4 document", k=1)) == ["D4"]
    assert index.size == sum(d.chunk_count for d in documents)


@pytest.mark.django_db(transaction=True)
def test_the_first_process_answers_at_once_and_maps_the_snapshot_once_it_is_written(shared, monkeypatch):
    import threading

    from knowledge import snapshot

    volcano = make_document(VOLCANO, title="Volcano")
    proceed, original = threading.Event(), snapshot.write

    def write_when_told(*args, **kwargs):
        assert proceed.wait(60)
        return original(*args, **kwargs)

    monkeypatch.setattr(snapshot, "write", write_when_told)
    index = ChunkIndex()
    assert titles(index.search("magma")) == ["Volcano"] and index._held.mapped is None  # before the file exists
    document_delete(document=volcano)  # changes while the file is being written
    make_document(BAKING, title="Baking")
    assert titles(index.search("sourdough yeast")) == ["Baking"]
    proceed.set()
    for thread in threading.enumerate():
        if thread.name == "ragchat-index-snapshot":
            thread.join(60)
    assert index._held.mapped is not None
    assert titles(index.search("sourdough yeast")) == ["Baking"]
    assert index.search("magma basalt lava") == [] and index.size == 1


def test_a_big_enough_snapshot_carries_int8_codes_of_its_vectors(db, shared, settings):
    settings.INDEX_INT8_OVER_ROWS = 1
    make_document(VOLCANO, title="Volcano")
    ChunkIndex().search("magma")
    index = ChunkIndex()
    assert titles(index.search("magma lava")) == ["Volcano"]
    quantized = index._held.vectors.quantized
    assert quantized is not None and quantized.codes.dtype == np.int8 and len(quantized.scales) == index.size
