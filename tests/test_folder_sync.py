"""`manage.py ingest PATH --sync [--prune]`: the knowledge base follows a folder; the old version of a changed
file stays searchable until the new one is ready."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from knowledge import services
from knowledge.index import ChunkIndex
from knowledge.models import Document
from tests.factories import run_queued

pytestmark = pytest.mark.django_db


def sync(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ingest", *args, "--sync", stdout=out, stderr=err)
    except CommandError:
        pass
    return out.getvalue(), err.getvalue()


def titles(query: str) -> list[str]:
    return [hit.document_title for hit in ChunkIndex().search(query, k=5)]


@pytest.fixture
def handbook(tmp_path):
    (tmp_path / "leave.md").write_text("# Leave\n\nEveryone gets twenty-five days of paid leave.")
    (tmp_path / "travel.md").write_text("# Travel\n\nBook trains for trips under four hours.")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "parking.txt").write_text("Parking is free on weekends.")
    return tmp_path


def test_first_sync_adds_and_the_second_finds_everything_unchanged(handbook):
    out, _ = sync(str(handbook), "--inline")
    assert "Added 3, replaced 0, unchanged 0, removed 0, failed 0." in out
    paths = set(Document.objects.values_list("source_path", flat=True))
    assert paths == {str((handbook / name).resolve()) for name in ("leave.md", "travel.md", "notes/parking.txt")}
    out, _ = sync(str(handbook), "--inline")
    assert "Added 0, replaced 0, unchanged 3, removed 0, failed 0." in out


def test_a_changed_file_replaces_its_document_once_the_new_version_is_ready(handbook):
    sync(str(handbook), "--inline")
    old = Document.objects.get(title="Leave")
    (handbook / "leave.md").write_text("# Leave\n\nEveryone gets thirty days of paid vacation from next year.")
    out, _ = sync(str(handbook))  # queued: the worker has not run yet
    assert "Added 0, replaced 1, unchanged 2, removed 0, failed 0; the worker processes what was queued." in out
    new = Document.objects.get(status=Document.Status.PENDING)
    assert new.replaces == old and new.source_path == old.source_path
    assert titles("twenty-five days paid leave")[0] == "Leave"  # the old version still answers

    run_queued()
    assert not Document.objects.filter(pk=old.pk).exists()
    new.refresh_from_db()
    assert new.status == Document.Status.READY and new.replaces is None
    assert titles("thirty days vacation")[0] == "Leave"
    assert Document.objects.filter(source_path=old.source_path).count() == 1


def test_a_replacement_that_fails_leaves_the_old_version(handbook):
    sync(str(handbook), "--inline")
    (handbook / "travel.md").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)  # now binary: refused at once
    out, err = sync(str(handbook), "--inline")
    assert "failed 1." in out and "travel.md: The file holds binary data" in err
    assert Document.objects.get(title="Travel").status == Document.Status.READY


def test_prune_removes_the_documents_of_deleted_files(handbook):
    sync(str(handbook), "--inline")
    (handbook / "notes" / "parking.txt").unlink()
    out, _ = sync(str(handbook), "--inline")
    assert "removed 0" in out and Document.objects.count() == 3  # without --prune, nothing goes
    out, _ = sync(str(handbook), "--inline", "--prune")
    assert "Added 0, replaced 0, unchanged 2, removed 1, failed 0." in out and "removed    " in out
    assert set(Document.objects.values_list("title", flat=True)) == {"Leave", "Travel"}


def test_prune_leaves_documents_from_elsewhere(handbook, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    (other / "keep.txt").write_text("From another folder.")
    sync(str(other), "--inline")
    services.document_ingest(text="Uploaded through the API.")
    sync(str(handbook), "--inline", "--prune")
    sync(str(handbook / "missing-folder"), "--inline", "--prune")  # a typo prunes nothing
    assert Document.objects.count() == 5


def test_prune_needs_sync(handbook):
    with pytest.raises(CommandError, match="--prune goes with --sync"):
        call_command("ingest", str(handbook), "--prune", stdout=StringIO())


def test_plain_ingest_queues_and_says_so(handbook):
    out = StringIO()
    call_command("ingest", str(handbook), stdout=out, stderr=StringIO())
    assert "Queued 3, duplicates skipped 0, failed 0." in out.getvalue()
    assert set(Document.objects.values_list("status", flat=True)) == {Document.Status.PENDING}
