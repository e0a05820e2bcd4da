"""Original files: kept in Django's storage once the document is ready, downloaded safely, deleted with it."""

from pathlib import Path
from urllib.parse import unquote

import pytest
from django.conf import settings
from django.core.management import call_command

from knowledge import services
from knowledge.models import Document
from knowledge.originals import content_disposition, download_filename, originals
from knowledge.uploads import has_upload
from tests.factories import make_document, run_queued
from tests.files import make_pdf
from tests.test_documents_api import upload

pytestmark = pytest.mark.django_db

HANDBOOK = b"Employee handbook\n\nEvery employee has twenty-five days of paid leave per year.\n"


def stored_files() -> list[Path]:
    root = Path(originals.location)
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def download(client, document_id):
    response = client.get(f"/api/documents/{document_id}/original")
    body = b"".join(response.streaming_content) if response.status_code == 200 else response.content
    return response, body


def filename_of(response) -> str:
    """The exact name a browser saves the download as (RFC 6266 prefers `filename*` to `filename`)."""
    return unquote(response["Content-Disposition"].split("filename*=UTF-8''")[1])


def test_an_upload_keeps_its_original_under_a_random_name_once_ready(api):
    response = upload(api, "handbook.txt", HANDBOOK)
    assert response.status_code == 201 and response.json()["has_original"] is True
    document = Document.objects.get()
    files = stored_files()
    assert [path.read_bytes() for path in files] == [HANDBOOK]
    assert "handbook" not in document.original.name and files[0].name == document.original.name
    assert Path(settings.STORAGES["originals"]["OPTIONS"]["location"]) in files[0].parents
    assert not has_upload(document)  # the bytes now live in the storage only


def test_a_pending_document_has_no_original_yet_and_a_deleted_one_leaves_no_file(api):
    response = upload(api, "handbook.txt", HANDBOOK, wait=False)
    document_id = response.json()["id"]
    assert response.json()["has_original"] is False
    assert download(api, document_id)[0].status_code == 404
    assert stored_files() == []
    assert api.delete(f"/api/documents/{document_id}").status_code == 204
    run_queued()
    assert stored_files() == [] and not Document.objects.exists()


def test_download_is_an_attachment_with_our_type_and_nosniff(api):
    pdf = make_pdf(["Annual leave is twenty-five days."])
    document_id = upload(api, "policy.pdf", pdf, client_type="text/html").json()["id"]
    response, body = download(api, document_id)
    assert response.status_code == 200 and body == pdf
    assert response["Content-Type"] == "application/pdf"  # ours, not the client's text/html
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''policy.pdf" in response["Content-Disposition"]
    assert "sandbox" in response["Content-Security-Policy"]
    assert int(response["Content-Length"]) == len(pdf)


def test_html_is_downloaded_as_opaque_bytes_never_rendered(api):
    html = b"<html><body><h1>Leave</h1><script>alert(document.cookie)</script><p>Twenty-five days.</p></body></html>"
    document_id = upload(api, "leave.html", html).json()["id"]
    response, body = download(api, document_id)
    assert response.status_code == 200 and body == html
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert filename_of(response) == "leave.html"


@pytest.mark.parametrize(("uploaded", "expected"), [
    ('re"port\r\n.txt', "re_port .txt"),
    ("invoice\u202egpj.txt", "invoice gpj.txt"),  # an RTL override would show it as "invoicetxt.jpg"
    ("zero\u200bwidth.txt", "zero width.txt"),
    ("tax; filename=evil.exe.txt", "tax_ filename=evil.exe.txt"),
    ("..", "leave policy.txt"),  # no usable name: the title
    ("notes", "notes.txt"),  # the extension of what it is served as
])
def test_download_names_are_sanitised(uploaded, expected):
    document = Document(filename=uploaded, title="leave policy", content_type="text/plain")
    name = download_filename(document)
    assert name == expected
    header = content_disposition(name)
    assert "\r" not in header and "\n" not in header and header.count('"') == 2
    assert unquote(header.split("filename*=UTF-8''")[1]) == expected


def test_non_ascii_names_keep_their_letters(api):
    document_id = upload(api, "قواعد الإجازة.txt", HANDBOOK).json()["id"]
    response, _ = download(api, document_id)
    assert filename_of(response) == "قواعد الإجازة.txt"
    fallback = response["Content-Disposition"].split('filename="')[1].split('"')[0]
    assert fallback.isascii()


def test_text_sent_as_json_has_no_original(api):
    document = make_document("Leave is twenty-five days.")
    assert not document.original
    response, body = download(api, document.pk)
    assert response.status_code == 404 and "no original" in response.json()["detail"]


def test_unreadable_or_unknown_documents_are_404_and_anonymous_is_refused(api, anon_api, monkeypatch):
    document_id = upload(api, "handbook.txt", HANDBOOK).json()["id"]
    assert download(api, 999999)[0].status_code == 404
    assert download(anon_api, document_id)[0].status_code in (401, 403)
    # Whatever the readable_by rule says (collections), a document outside it is a 404.
    monkeypatch.setattr(type(Document.objects.all()), "readable_by", lambda self, user: self.none())
    response, _ = download(api, document_id)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_a_missing_file_is_404_not_500(api):
    document_id = upload(api, "handbook.txt", HANDBOOK).json()["id"]
    for path in stored_files():
        path.unlink()
    response, _ = download(api, document_id)
    assert response.status_code == 404 and "missing" in response.json()["detail"]


def test_deleting_a_document_deletes_its_file(api, django_capture_on_commit_callbacks):
    document_id = upload(api, "handbook.txt", HANDBOOK).json()["id"]
    assert len(stored_files()) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/documents/{document_id}").status_code == 204
    assert stored_files() == []


def test_a_failed_document_keeps_its_bytes_for_a_retry_but_no_file(api):
    response = upload(api, "broken.pdf", b"%PDF-1.4 not really a pdf")
    assert response.status_code == 422
    document = Document.objects.get()
    assert not document.original and has_upload(document) and stored_files() == []


def test_a_synced_files_new_version_replaces_the_old_original(tmp_path, django_capture_on_commit_callbacks):
    folder = tmp_path / "docs"
    folder.mkdir()
    source = folder / "handbook.txt"
    source.write_bytes(HANDBOOK)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest", str(folder), "--sync", "--inline", stdout=open("/dev/null", "w"))
    assert [path.read_bytes() for path in stored_files()] == [HANDBOOK]
    source.write_bytes(HANDBOOK + b"Leave requests go to your manager.\n")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest", str(folder), "--sync", "--inline", stdout=open("/dev/null", "w"))
    assert [path.read_bytes() for path in stored_files()] == [source.read_bytes()]
    assert Document.objects.get().original


def test_the_size_limit_counts_the_originals_bytes(api, settings):
    settings.DOCUMENT_MAX_BYTES = len(HANDBOOK) - 1
    response = upload(api, "handbook.txt", HANDBOOK)
    assert response.status_code == 413
    assert stored_files() == [] and not Document.objects.exists()
    settings.DOCUMENT_MAX_BYTES = len(HANDBOOK)
    assert upload(api, "handbook.txt", HANDBOOK).status_code == 201
    assert Document.objects.get().size == len(HANDBOOK) == originals.size(Document.objects.get().original.name)


def test_a_deleted_document_mid_job_leaves_no_file(user, monkeypatch):
    """Deleted while its job was finishing: the file written just before is removed again."""
    from knowledge import processing

    document = services.document_submit(data=HANDBOOK, filename="handbook.txt", user=user, enqueue=False)
    real = processing._make_ready

    def deleted_first(lease, chunk_count, original):
        Document.objects.filter(pk=document.pk).delete()
        return real(lease, chunk_count, original)

    monkeypatch.setattr(processing, "_make_ready", deleted_first)
    assert processing.document_process(document_id=document.pk) is None
    assert stored_files() == []


def test_the_admin_links_to_the_download(api, client, staff_user):
    document_id = upload(api, "handbook.txt", HANDBOOK).json()["id"]
    client.force_login(staff_user)
    page = client.get(f"/admin/knowledge/document/{document_id}/change/").content.decode()
    assert f'href="/api/documents/{document_id}/original"' in page and "Download handbook.txt" in page
    response = client.get(f"/api/documents/{document_id}/original")
    assert response.status_code == 200 and b"".join(response.streaming_content) == HANDBOOK


def test_every_type_we_read_has_a_download_type():
    from knowledge.extraction import DOCX_TYPE, HTML_TYPES, PDF_TYPE, TEXT_TYPES
    from knowledge.originals import DOWNLOAD_TYPES

    assert {*TEXT_TYPES.values(), *HTML_TYPES.values(), PDF_TYPE, DOCX_TYPE} <= DOWNLOAD_TYPES.keys()
    assert all(not served.startswith(("text/html", "image/svg")) for served, _ in DOWNLOAD_TYPES.values())


def test_prune_originals_sweeps_only_old_files_no_document_names(api):
    import io
    import os
    import time

    document_id = upload(api, "handbook.txt", HANDBOOK).json()["id"]
    kept = Document.objects.get(pk=document_id).original.name
    old_orphan = originals.save("0123456789abcdef0123456789abcdef.txt", io.BytesIO(b"left by a crash"))
    young_orphan = originals.save("fedcba9876543210fedcba9876543210.txt", io.BytesIO(b"a job about to commit"))
    an_hour_ago = time.time() - 7200
    for name in (kept, old_orphan):
        os.utime(originals.path(name), (an_hour_ago, an_hour_ago))
    out = io.StringIO()
    call_command("prune_originals", "--dry-run", stdout=out)
    assert f"would delete  {old_orphan}" in out.getvalue() and len(stored_files()) == 3
    call_command("prune_originals", stdout=io.StringIO())
    assert sorted(path.name for path in stored_files()) == sorted([kept, young_orphan])


def test_prune_originals_with_nothing_kept_yet():
    import io

    out = io.StringIO()
    call_command("prune_originals", stdout=out)
    assert "0 orphaned original file(s) deleted." in out.getvalue()
