import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_first_login_is_created_once_with_a_printed_password(capsys):
    call_command("createadmin")
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    call_command("createadmin")
    assert "nothing to do" in capsys.readouterr().out
    assert get_user_model().objects.count() == 1


def test_password_can_come_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("RAGCHAT_ADMIN_PASSWORD", "s3cret-from-env")
    call_command("createadmin")
    assert "s3cret-from-env" not in capsys.readouterr().out
    assert get_user_model().objects.get(username="admin").check_password("s3cret-from-env")
