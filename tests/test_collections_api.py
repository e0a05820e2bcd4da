"""/api/collections: the ones you may read, with their document counts; create your own; owner or staff manage."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from knowledge.models import Collection, Document
from tests.factories import make_collection, make_document


@pytest.fixture
def groups(db, user, other_user):
    hr, eng = Group.objects.create(name="HR"), Group.objects.create(name="Engineering")
    user.groups.add(hr)
    other_user.groups.add(eng)
    return hr, eng


def names(response):
    return [c["name"] for c in response.json()["results"]]


def test_list_shows_readable_collections_with_counts(api, other_api, user, groups):
    hr, eng = groups
    salaries = make_collection("Salaries", groups=[hr])
    make_collection("Runbooks", groups=[eng])
    make_collection("Alice's drafts", owner=user, private=True)
    make_document("Salary bands by level.", title="Bands", collection=salaries)
    make_document("The holiday calendar.", title="Holidays")
    assert names(api.get("/api/collections")) == ["Alice's drafts", "General", "Salaries"]
    assert names(other_api.get("/api/collections")) == ["General", "Runbooks"]
    listed = {c["name"]: c for c in api.get("/api/collections").json()["results"]}
    assert listed["Salaries"]["document_count"] == 1 and listed["General"]["document_count"] == 1
    assert listed["Salaries"]["groups"] == ["HR"] and listed["Salaries"]["visibility"] == "groups"
    assert listed["Alice's drafts"]["can_manage"] is True and listed["Salaries"]["can_manage"] is False


def test_an_unreadable_collection_is_404(api, groups):
    runbooks = make_collection("Runbooks", groups=[groups[1]])
    for method in ("get", "patch", "delete"):
        assert getattr(api, method)(f"/api/collections/{runbooks.pk}", {}, format="json").status_code == 404
    assert Collection.objects.filter(pk=runbooks.pk).exists()


def test_anyone_signed_in_creates_a_collection_they_own_shared_with_their_group(api, other_api, groups):
    response = api.post("/api/collections", {"name": "  People ops  ", "description": "Policies",
                                             "visibility": "groups", "groups": ["HR"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "People ops" and body["owner"] == "alice" and body["can_manage"] is True
    assert body["document_count"] == 0 and body["groups"] == ["HR"]
    assert other_api.get(f"/api/collections/{body['id']}").status_code == 404


def test_a_user_cannot_share_with_a_group_they_are_not_in(api, groups):
    for group in ("Engineering", "Nonexistent"):
        response = api.post("/api/collections", {"name": "Sneaky", "visibility": "groups", "groups": [group]},
                            format="json")
        assert response.status_code == 400 and set(response.json()) == {"groups"}


def test_staff_share_with_any_group(staff_user, groups):
    client = APIClient()
    client.force_authenticate(staff_user)
    response = client.post("/api/collections", {"name": "Eng only", "visibility": "groups",
                                                "groups": ["Engineering"]}, format="json")
    assert response.status_code == 201 and response.json()["groups"] == ["Engineering"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there", "bidi\u202eevil", 7])
def test_bad_names_are_400(api, db, name):
    assert api.post("/api/collections", {"name": name}, format="json").status_code == 400


def test_names_are_unique_ignoring_case(api, db):
    assert api.post("/api/collections", {"name": "Contracts"}, format="json").status_code == 201
    response = api.post("/api/collections", {"name": "contracts"}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_only_owner_or_staff_manage(api, other_api, user, staff_user, db):
    mine = make_collection("Mine", owner=user)
    assert other_api.patch(f"/api/collections/{mine.pk}", {"name": "Theirs"}, format="json").status_code == 404
    assert other_api.delete(f"/api/collections/{mine.pk}").status_code == 404
    assert other_api.get(f"/api/collections/{mine.pk}").json()["can_manage"] is False
    response = api.patch(f"/api/collections/{mine.pk}", {"name": "Renamed", "description": "New"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "Renamed"
    staff = APIClient()
    staff.force_authenticate(staff_user)
    assert staff.patch(f"/api/collections/{mine.pk}", {"visibility": "groups"}, format="json").status_code == 200
    assert other_api.get(f"/api/collections/{mine.pk}").status_code == 404  # now only its owner's


def test_deleting_a_collection_that_holds_documents_is_409(api, user, db):
    mine = make_collection("Mine", owner=user)
    document = make_document("Something to keep.", collection=mine, user=user)
    response = api.delete(f"/api/collections/{mine.pk}")
    assert response.status_code == 409 and "1 document" in response.json()["detail"]
    assert api.delete(f"/api/documents/{document.pk}").status_code == 204
    assert api.delete(f"/api/collections/{mine.pk}").status_code == 204


def test_documents_list_filters_by_collection(api, user, db):
    mine = make_collection("Mine", owner=user)
    make_document("In mine.", title="A", collection=mine)
    make_document("In general.", title="B")
    listed = api.get("/api/documents", {"collection": mine.pk}).json()["results"]
    assert [d["title"] for d in listed] == ["A"] and listed[0]["collection_name"] == "Mine"
    assert api.get("/api/documents", {"collection": "abc"}).status_code == 400


def test_documents_without_a_collection_go_to_the_default_one(api, db):
    response = api.post("/api/documents", {"content": "No collection named.", "wait": True}, format="json")
    assert response.json()["collection_name"] == "General"
    assert Document.objects.get().collection == Collection.objects.get(name="General")


def test_anonymous_is_refused(anon_api, db):
    assert anon_api.get("/api/collections").status_code in (401, 403)


@pytest.mark.parametrize("groups", [{}, {"HR": 1}, "HR", 3])
def test_groups_must_be_a_list(api, groups):
    response = api.post("/api/collections", {"name": "Odd", "groups": groups}, format="json")
    assert response.status_code == 400 and "groups" in response.json()
