"""`manage.py ingest PATH --collection NAME`: files go to a named collection (an unknown name is an error that
lists the collections, unless --create), and --sync/--prune stay inside that collection."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from knowledge.models import Collection, Document
from tests.factories import make_collection

pytestmark = pytest.mark.django_db


def ingest(*args) -> str:
    out = StringIO()
    call_command("ingest", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "a.md").write_text("# Leave\n\nTwenty-five days of paid leave.")
    (tmp_path / "b.md").write_text("# Travel\n\nTrains for trips under four hours.")
    return tmp_path


def test_files_go_to_the_named_collection(folder):
    legal = make_collection("Legal")
    ingest(str(folder), "--collection", "legal", "--inline")  # names match ignoring case
    assert set(Document.objects.values_list("collection__name", flat=True)) == {"Legal"}
    assert legal.documents.count() == 2


def test_without_a_collection_files_go_to_the_default_one(folder):
    ingest(str(folder), "--inline")
    assert set(Document.objects.values_list("collection__name", flat=True)) == {"General"}


def test_an_unknown_collection_is_an_error_listing_the_existing_ones(folder):
    Collection.objects.default()  # made by the migration; a transactional test before may have flushed it
    make_collection("Legal")
    with pytest.raises(CommandError, match=r"No collection named “Lgeal” \(existing: General, Legal\)\. Add --create"):
        ingest(str(folder), "--collection", "Lgeal")
    assert not Document.objects.exists() and not Collection.objects.filter(name="Lgeal").exists()


def test_create_makes_a_collection_only_its_groups_read(folder, user, other_user):
    hr = Group.objects.create(name="HR")
    user.groups.add(hr)
    out = ingest(str(folder), "--collection", "People", "--create", "--group", "HR", "--inline")
    assert "Created the collection “People”, readable by HR." in out
    people = Collection.objects.get(name="People")
    assert people.visibility == Collection.Visibility.GROUPS and list(people.groups.all()) == [hr]
    assert Document.objects.readable_by(user).filter(collection=people).count() == 2
    assert not Document.objects.readable_by(other_user).filter(collection=people).exists()


def test_an_unknown_group_is_an_error(folder):
    with pytest.raises(CommandError, match="No such group: Nobody"):
        ingest(str(folder), "--collection", "People", "--create", "--group", "Nobody")
    assert not Collection.objects.filter(name="People").exists()


def test_sync_and_prune_stay_inside_the_collection(folder, tmp_path_factory):
    make_collection("Legal")
    ingest(str(folder), "--collection", "Legal", "--sync", "--inline")
    other = tmp_path_factory.mktemp("other")
    (other / "c.md").write_text("# Parking\n\nFree on weekends.")
    ingest(str(other), "--sync", "--inline")  # the default collection
    (folder / "a.md").unlink()
    out = ingest(str(folder), "--collection", "Legal", "--sync", "--prune", "--inline")
    assert "removed" in out and "Leave" in out
    # The default collection's documents from another folder are untouched; so is the same folder synced
    # into General (nothing there to prune).
    assert sorted(Document.objects.values_list("title", "collection__name")) == [
        ("Parking", "General"), ("Travel", "Legal")]
    out = ingest(str(folder), "--sync", "--prune", "--inline")  # General: b.md is Legal's (same bytes)
    assert "duplicate" in out and Document.objects.filter(title="Parking").exists()
