"""Every change the index must see gives IndexState a new version, in the same transaction; nothing else does."""

import pytest
from django.db import transaction

from knowledge import index_state
from knowledge.models import Document
from knowledge.services import document_delete
from tests.factories import make_document


def version() -> int:
    return index_state.served().version


def test_ingesting_and_deleting_a_document_change_the_version(db):
    before = version()
    document = make_document("Magma rises in volcanoes.")
    after_ingest = version()
    document_delete(document=document)
    assert len({before, after_ingest, version()}) == 3


def test_a_status_change_changes_it_and_a_save_of_other_fields_does_not(db):
    document = make_document("Magma rises in volcanoes.")
    before = version()
    document.title = "Renamed"
    document.save(update_fields=["title"])
    assert version() == before
    document.status = Document.Status.FAILED
    document.save(update_fields=["status"])
    assert version() != before


def test_a_change_rolled_back_leaves_a_version_that_never_comes_again(db):
    before = version()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_document("Rolled back.")
        inside = version()
        raise RuntimeError("give up")
    assert version() == before != inside
    make_document("Kept.")
    assert version() not in (before, inside)  # random, not a counter that could repeat `inside`


def test_a_flushed_database_gets_its_state_row_back(db):
    from knowledge.models import IndexState

    IndexState.objects.all().delete()
    assert version() and IndexState.objects.count() == 1
