"""The admin: collections with their groups and document counts; documents show, filter, take and move
between collections (one at a time or in bulk)."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from knowledge.models import Collection, Document
from tests.factories import make_collection, make_document

pytestmark = pytest.mark.django_db

DOCS = "/admin/knowledge/document/"
COLLECTIONS = "/admin/knowledge/collection/"


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_collection_list_shows_groups_and_document_counts(admin_client):
    hr = make_collection("Salaries", groups=[Group.objects.create(name="HR")])
    make_document("Band one.", collection=hr)
    make_document("Band two.", collection=hr)
    page = admin_client.get(COLLECTIONS).content.decode()
    assert "Salaries" in page and "HR" in page
    assert f'?collection__id__exact={hr.pk}">2</a>' in page


def test_collection_form_picks_groups_side_by_side(admin_client):
    page = admin_client.get(COLLECTIONS + "add/").content.decode()
    assert "selectfilter" in page.lower() or "SelectFilter" in page
    group = Group.objects.create(name="Legal")
    response = admin_client.post(COLLECTIONS + "add/", {"name": "Contracts", "description": "",
                                                        "visibility": "groups", "groups": [group.pk]})
    assert response.status_code == 302
    assert list(Collection.objects.get(name="Contracts").groups.all()) == [group]


def test_document_list_shows_and_filters_by_collection(admin_client):
    legal = make_collection("Contracts")
    make_document("Acme contract.", title="Acme", collection=legal)
    make_document("Menu.", title="Menu")
    page = admin_client.get(DOCS, {"collection__id__exact": legal.pk}).content.decode()
    assert "Acme" in page and ">Menu<" not in page


def test_upload_into_a_collection_and_edit_it(admin_client):
    legal = make_collection("Contracts")
    upload = SimpleUploadedFile("lease.txt", b"The lease runs to 2030.")
    assert admin_client.post(DOCS + "add/", {"file": upload, "title": "", "collection": legal.pk}).status_code == 302
    document = Document.objects.get()
    assert document.collection == legal
    general = Collection.objects.default()
    response = admin_client.post(f"{DOCS}{document.pk}/change/", {"title": "Lease", "collection": general.pk})
    assert response.status_code == 302
    assert Document.objects.get().collection == general


def test_bulk_move_asks_for_the_collection_then_moves(admin_client):
    legal = make_collection("Contracts")
    documents = [make_document(f"Doc {i}.", title=f"Doc {i}") for i in range(3)]
    ids = [d.pk for d in documents[:2]]
    page = admin_client.post(DOCS, {"action": "move", "_selected_action": ids}).content.decode()
    assert "Move documents to a collection" in page and "Doc 0" in page
    response = admin_client.post(DOCS, {"action": "move", "_selected_action": ids, "apply": "1",
                                        "collection": legal.pk}, follow=True)
    assert "Moved 2 document(s)" in response.content.decode()
    assert sorted(Document.objects.filter(collection=legal).values_list("title", flat=True)) == ["Doc 0", "Doc 1"]


def test_a_collection_with_documents_cannot_be_deleted(admin_client):
    legal = make_collection("Contracts")
    make_document("Acme contract.", collection=legal)
    page = admin_client.get(f"{COLLECTIONS}{legal.pk}/delete/").content.decode()
    assert "would require deleting the following protected" in page
    admin_client.post(f"{COLLECTIONS}{legal.pk}/delete/", {"post": "yes"})
    assert Collection.objects.filter(pk=legal.pk).exists()
