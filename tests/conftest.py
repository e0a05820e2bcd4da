import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import make_user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2's deliberate slowness costs ~0.3 s per login in tests and proves nothing there."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def index_snapshots_in_a_temporary_folder(settings, tmp_path_factory):
    """Index snapshot files of tests go to pytest's temporary folder, never the checkout's var/index."""
    settings.INDEX_SNAPSHOT_DIR = str(tmp_path_factory.getbasetemp() / "index-snapshots")


@pytest.fixture(autouse=True)
def originals_in_a_temporary_folder(settings, tmp_path_factory):
    """Original files of each test go to a temporary folder of their own (not the test's tmp_path, which tests
    ingest as a folder), never the checkout's var/originals."""
    settings.STORAGES = {**settings.STORAGES, "originals": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path_factory.mktemp("originals")), "base_url": None}}}


@pytest.fixture
def user(db):
    return make_user("alice")


@pytest.fixture
def other_user(db):
    return make_user("bob")


@pytest.fixture
def staff_user(db):
    return make_user("staff", is_staff=True, is_superuser=True)


@pytest.fixture
def api(user):
    """An API client signed in as `user` with a token (the integration path)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def other_api(other_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other_user).key}")
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def openai_server():
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (tests/openai_server.py)."""
    from tests.openai_server import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fresh_index():
    """The process's search index (and what it keeps of who may read what), emptied before and after: each
    test starts from what its database holds."""
    from knowledge import index, scope

    index.reset_index()
    scope.forget()
    yield index.get_index()
    index.reset_index()
    scope.forget()
