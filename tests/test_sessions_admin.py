import pytest

from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db


def test_admin_lists_and_searches_sessions_by_name_and_owner(client, staff_user, user, other_user):
    make_session(user, "Budget planning")
    make_session(other_user, "Holiday ideas")
    client.force_login(staff_user)
    assert client.get("/admin/sessions_app/chatsession/?q=budget").content.count(b"Budget planning") >= 1
    by_owner = client.get("/admin/sessions_app/chatsession/?q=bob").content.decode()
    assert "Holiday ideas" in by_owner and "Budget planning" not in by_owner


def test_admin_shows_messages_read_only(client, staff_user, user):
    session = make_session(user, "Budget planning")
    make_message(session, "What did we spend on travel?")
    client.force_login(staff_user)
    page = client.get(f"/admin/sessions_app/chatsession/{session.id}/change/").content.decode()
    assert "What did we spend on travel?" in page
    assert 'name="messages-0-content"' not in page  # shown, not editable
