"""schemathesis fuzzes every operation of /api/schema, signed in, against the production server: no 5xx, and
every answer (status, content type, headers, body, SSE events) is one the schema documents; data the schema
calls valid is accepted and invalid data is refused (tests/schemathesis.toml lists the few exceptions)."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from knowledge.services import document_ingest
from tests.factories import make_document, make_session, make_user
from tests.production_server import ProductionServer, database_url

ROOT = Path(__file__).resolve().parent.parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = 50  # per operation, as the run; the whole run takes about a minute
# One worker: with two, schemathesis' threads parse source with ast.parse at once (hypothesis describing its
# filters), which CPython 3.11 can fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905). Requests racing on one chat are tested in tests/test_concurrency.py.


@pytest.fixture
def fuzzed_server(transactional_db):
    user = make_user("fuzzer")
    make_session(user, "Seeded")
    make_document("Seeded knowledge for the fuzzer to find: volcanoes, glaciers and rivers.", user=user)
    # A document with its original file kept (HTML: the download the schema must describe most carefully).
    document_ingest(data=b"<html><body><p>Seeded page about deserts and oases.</p></body></html>",
                    filename="seeded.html", user=user)
    token = Token.objects.create(user=user).key
    env = {"LOG_LEVEL": "ERROR", **{f"THROTTLE_{scope}": "1000000/minute" for scope in ("CHAT", "UPLOADS", "SEARCH")}}
    with ProductionServer(database_url(connection.settings_dict), env=env) as server:
        yield server, token


def test_schemathesis_finds_no_server_error_and_no_schema_violation(fuzzed_server, tmp_path):
    server, token = fuzzed_server
    result = subprocess.run(
        [str(SCHEMATHESIS), "--config-file", str(ROOT / "tests" / "schemathesis.toml"), "run",
         f"{server.url}/api/schema", "-H", f"Authorization: Token {token}", "--checks", "all",
         "--max-examples", str(EXAMPLES), "--workers", "1", "--seed", "1", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    report = result.stdout[-12000:] + result.stderr[-3000:]
    assert result.returncode == 0, report + "\n--- server log ---\n" + server.output()[-3000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, report
