"""Each process keeps what a user may read (knowledge/scope.py): every way access changes is seen by the very
next search, in this process and in another one (the versions live in the database, not in the process)."""

import pytest
from django.contrib.auth.models import Group

from knowledge.models import Collection
from knowledge.services import document_move
from tests.factories import make_collection, make_document

pytestmark = pytest.mark.usefixtures("fresh_index")

SALARY = "The salary bands for engineers range from level one to level five, reviewed every April by HR."
QUERY = {"q": "salary bands for engineers reviewed every April", "k": 10}


def found(api) -> bool:
    response = api.get("/api/search", QUERY)
    assert response.status_code == 200
    return "Salary bands" in [hit["document_title"] for hit in response.json()]


@pytest.fixture
def hr(db, user):
    group = Group.objects.create(name="HR")
    user.groups.add(group)
    collection = make_collection("Salaries", groups=[group])
    document = make_document(SALARY, title="Salary bands", collection=collection)
    return {"group": group, "collection": collection, "document": document}


def test_leaving_and_rejoining_a_group(api, user, hr):
    assert found(api)
    user.groups.remove(hr["group"])
    assert not found(api)
    hr["group"].user_set.add(user)  # from the group's side
    assert found(api)
    user.groups.clear()
    assert not found(api)


def test_a_collection_losing_its_group_or_opening_to_everyone(api, hr):
    assert found(api)
    hr["collection"].groups.remove(hr["group"])
    assert not found(api)
    hr["collection"].visibility = Collection.Visibility.EVERYONE
    hr["collection"].save()
    assert found(api)


def test_a_group_deleted(api, hr):
    assert found(api)
    hr["group"].delete()  # its memberships go with it, without an m2m signal
    assert not found(api)


def test_a_document_moved_out_of_reach_and_back(api, hr):
    assert found(api)
    secret = make_collection("Board", groups=[Group.objects.create(name="Board")])
    document_move(document=hr["document"], collection=secret)
    assert not found(api)
    document_move(document=hr["document"], collection=hr["collection"])
    assert found(api)


def test_a_user_who_read_everything_until_a_restricted_collection_came(api, other_api, hr):
    assert found(api) and not found(other_api)  # other_user reads every collection but Salaries
    hr["group"].user_set.add(hr["group"].user_set.first())  # no change: nothing to see
    assert not found(other_api)
    hr["collection"].visibility = Collection.Visibility.EVERYONE
    hr["collection"].save()
    assert found(other_api)  # now reads everything: no mask
    hr["collection"].visibility = Collection.Visibility.GROUPS
    hr["collection"].save()
    assert not found(other_api)


def test_staff_rights_taken_away(api, user, hr):
    user.groups.clear()
    user.is_staff = True
    user.save()
    assert found(api)
    user.is_staff = False
    user.save()
    assert not found(api)


def test_a_change_written_by_another_process_is_seen(api, user, hr):
    """Only the database's version tells this process: the change is made as another process would, with a
    signal handler's note and no cache of ours touched."""
    from knowledge import index_state, scope

    assert found(api)
    kept = dict(scope._answers)
    user.groups.remove(hr["group"])
    assert scope._answers.keys() >= kept.keys()  # nothing here was dropped: the version moved on
    assert index_state.served().access_version != 0
    assert not found(api)
