"""`manage.py ingest` and `manage.py reindex` on real folders of files."""

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Chunk, Document
from tests.files import make_docx, make_pdf, make_png
from tests.processes import child_env

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mixed_folder(tmp_path):
    (tmp_path / "guide.md").write_text("# Guide\n\nHow to use the product.")
    (tmp_path / "notes.txt").write_text("Plain notes about deployment.")
    (tmp_path / "copy-of-notes.txt").write_text("Plain notes about deployment.")  # duplicate bytes
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "report.pdf").write_bytes(make_pdf(["A report in a subfolder."]))
    (tmp_path / "sub" / "deeper" / "letter.docx").write_bytes(make_docx(["A letter, two folders down."]))
    (tmp_path / "sub" / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    (tmp_path / "photo.png").write_bytes(make_png())
    (tmp_path / ".hidden.txt").write_text("Hidden file, skipped.")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("Hidden folder, skipped.")
    return tmp_path


def run(*args, inline: bool = True) -> tuple[str, str, CommandError | None]:
    out, err = StringIO(), StringIO()
    try:
        call_command("ingest", *args, *(["--inline"] if inline else []), stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


def test_folder_with_good_duplicate_and_broken_files(mixed_folder):
    out, err, error = run(str(mixed_folder))
    assert error is not None and "2 file(s) failed" in str(error)
    assert "Ingested 4, duplicates skipped 1, failed 2." in out
    assert "broken.pdf: The PDF is damaged" in err
    assert "photo.png: Unsupported file type '.png'" in err
    ready = set(Document.objects.filter(status="ready").values_list("filename", flat=True))
    assert ready == {"guide.md", "report.pdf", "letter.docx", "copy-of-notes.txt"}  # sorted: the copy came first
    assert "notes.txt = #" in out
    assert not Document.objects.filter(filename__in=[".hidden.txt", "config"]).exists()
    failed = Document.objects.filter(status="failed")
    assert {d.filename for d in failed} == {"broken.pdf"}  # a .png is not a document: no record kept
    assert all(d.error and d.chunk_count == 0 for d in failed)
    assert not Chunk.objects.filter(document__status="failed").exists()


def test_running_twice_reports_duplicates_and_still_fails_for_broken_files(mixed_folder):
    run(str(mixed_folder))
    out, _, error = run(str(mixed_folder))
    assert "Ingested 0, duplicates skipped 5, failed 2." in out
    assert error is not None
    assert Document.objects.filter(status="failed").count() == 1  # retried in place, not piled up


def test_good_folder_twice_exits_cleanly(tmp_path):
    (tmp_path / "a.md").write_text("Alpha.")
    (tmp_path / "b.txt").write_text("Beta.")
    out, _, error = run(str(tmp_path))
    assert error is None and "Ingested 2, duplicates skipped 0, failed 0." in out
    out, _, error = run(str(tmp_path))
    assert error is None and "Ingested 0, duplicates skipped 2, failed 0." in out


def test_single_file_with_title(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("Titled text.")
    out, _, error = run(str(path), "--title", "My title")
    assert error is None
    assert Document.objects.get().title == "My title"


def test_title_with_several_files_is_refused(tmp_path):
    (tmp_path / "a.txt").write_text("A.")
    (tmp_path / "b.txt").write_text("B.")
    with pytest.raises(CommandError, match="single file"):
        call_command("ingest", str(tmp_path), "--title", "T", stdout=StringIO())
    assert not Document.objects.exists()


def test_missing_path_fails(tmp_path):
    out, err, error = run(str(tmp_path / "nope"))
    assert error is not None and "No such file or folder" in err


def test_file_over_the_limit_fails_without_reading(tmp_path, settings):
    settings.DOCUMENT_MAX_BYTES = 10
    (tmp_path / "big.txt").write_text("more than ten bytes")
    out, err, error = run(str(tmp_path))
    assert error is not None and "big.txt: The document is larger than" in err


def test_reindex_reembeds_every_document(tmp_path, settings):
    (tmp_path / "a.txt").write_text(" ".join(f"Sentence {i} is here." for i in range(60)))
    (tmp_path / "b.txt").write_text("Short one.")
    run(str(tmp_path))
    before = {d.pk: d.updated_at for d in Document.objects.all()}
    settings.CHUNK_SIZE, settings.CHUNK_OVERLAP = 25, 0
    out = StringIO()
    call_command("reindex", stdout=out, stderr=StringIO())
    assert "Re-embedded 2 document(s); failed 0." in out.getvalue()
    for document in Document.objects.all():
        assert document.updated_at > before[document.pk]
        assert document.chunks.count() == document.chunk_count
    assert Document.objects.get(filename="a.txt").chunk_count > 1


@pytest.mark.django_db(transaction=True)
def test_manage_py_exit_status(mixed_folder, tmp_path_factory):
    good = tmp_path_factory.mktemp("good")
    (good / "ok.txt").write_text("A good file for the exit status test.")
    env = child_env()
    ok = subprocess.run([sys.executable, "manage.py", "ingest", "--inline", str(good)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "Ingested 1, duplicates skipped 0, failed 0." in ok.stdout
    bad = subprocess.run([sys.executable, "manage.py", "ingest", "--inline", str(mixed_folder)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    assert "failed 2." in bad.stdout and "Traceback" not in bad.stderr and "2 file(s) failed" in bad.stderr
    assert Document.objects.filter(status="ready").count() == 5
