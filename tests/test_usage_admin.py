"""Who used what: the admin sums the tokens of Message.usage per user and per day."""

from datetime import UTC, datetime

import pytest

from sessions_app.models import Message
from tests.factories import make_message, make_session

pytestmark = pytest.mark.django_db


def spent(owner, day: int, prompt: int, completion: int, role=Message.Role.ASSISTANT, model="gpt-test"):
    message = make_message(make_session(owner), "text", role=role, model=model,
                           usage={"prompt_tokens": prompt, "completion_tokens": completion})
    Message.objects.filter(pk=message.pk).update(created_at=datetime(2026, 3, day, 12, tzinfo=UTC))


@pytest.fixture
def usage(user, other_user):
    spent(user, 1, 100, 10)
    spent(user, 1, 200, 20)
    spent(user, 1, 30, 3, role=Message.Role.USER)  # a follow-up rewrite: counted, not an answer
    spent(user, 2, 1000, 100, model="big-model")
    spent(other_user, 2, 5, 5)
    quiet = make_message(make_session(other_user), "no usage recorded", role=Message.Role.ASSISTANT)
    Message.objects.filter(pk=quiet.pk).update(created_at=datetime(2026, 3, 2, 13, tzinfo=UTC))


def table(page: str, table_id: str) -> list[list[str]]:
    import re

    body = page.split(f'id="{table_id}"')[1].split("</table>")[0]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>")[1], re.S)]


def test_usage_per_user_and_per_day(client, staff_user, usage):
    client.force_login(staff_user)
    response = client.get("/admin/sessions_app/tokenusage/")
    assert response.status_code == 200
    page = response.content.decode()
    assert table(page, "usage-by-user") == [["alice", "3", "1330", "133", "1463"], ["bob", "2", "5", "5", "10"]]
    assert table(page, "usage-by-day") == [
        ["2026-03-02", "alice", "1", "1000", "100", "1100"],
        ["2026-03-02", "bob", "2", "5", "5", "10"],
        ["2026-03-01", "alice", "2", "330", "33", "363"],
    ]


def test_usage_follows_the_admin_filters(client, staff_user, usage):
    client.force_login(staff_user)
    one_day = client.get("/admin/sessions_app/tokenusage/?created_at__day=1&created_at__month=3&created_at__year=2026")
    assert table(one_day.content.decode(), "usage-by-day") == [["2026-03-01", "alice", "2", "330", "33", "363"]]
    by_model = client.get("/admin/sessions_app/tokenusage/?model=big-model").content.decode()
    assert table(by_model, "usage-by-user") == [["alice", "1", "1000", "100", "1100"]]
    by_user = client.get("/admin/sessions_app/tokenusage/?q=bob").content.decode()
    assert [row[0] for row in table(by_user, "usage-by-user")] == ["bob"]


def test_usage_is_for_staff_only(client, user, usage):
    client.force_login(user)
    assert client.get("/admin/sessions_app/tokenusage/").status_code == 302
