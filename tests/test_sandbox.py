"""Bounded reading: each file is read by a child process with CPU, memory and wall-clock limits set from outside.

No database here: knowledge/sandbox.py knows nothing of Django. The hostile files are built by tests/files.py.
"""

import os
import time

import pytest

from knowledge.errors import EmptyDocument, ExtractionFailed, UnsupportedType
from knowledge.sandbox import Limits, read_file
from tests.files import (
    make_deep_page_tree_pdf,
    make_docx,
    make_encrypted_pdf,
    make_hostile_pdf,
    make_huge_stream_pdf,
    make_pdf,
    make_png,
    make_scanned_pdf,
    make_zip_bomb_docx,
)

ROOMY = Limits(wall_seconds=60, cpu_seconds=60, memory_mb=1024)


class Stop(Exception):
    pass


def children_of(pid: int) -> set[int]:
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            found.update(int(child) for child in listing.read().split())
    return found


def test_plain_files_are_read_with_their_pages():
    reading = read_file(make_pdf(["First page.", "Second page."]), "two.pdf", limits=ROOMY)
    assert reading.extracted.text == "First page.\n\nSecond page."
    assert reading.extracted.page_starts == [0, 13] and reading.extracted.content_type == "application/pdf"
    assert 0 < reading.cpu_seconds < 10
    assert read_file(make_docx(["Word text."]), "a.docx", limits=ROOMY).extracted.text == "Word text."


def test_hostile_pdf_costs_at_most_the_time_limit_and_says_so():
    pages = []
    started = time.monotonic()
    with pytest.raises(ExtractionFailed, match=r"^The file took longer than 2 s to read; refused\.$"):
        read_file(make_hostile_pdf(pages=4999), "hostile.pdf", limits=Limits(wall_seconds=2, cpu_seconds=60,
                                                                             memory_mb=1024),
                  progress=lambda stage, done, total: pages.append((stage, done, total)))
    assert time.monotonic() - started < 5  # the limit, start-up and the kill; not hours
    assert pages and pages[0] == ("reading", 0, 4999)  # it had started on the 4,999 pages
    assert children_of(os.getpid()) == set()  # the reader was killed and reaped


def test_cpu_limit_is_enforced_by_the_kernel():
    with pytest.raises(ExtractionFailed, match="needed more than 1 s of CPU time"):
        read_file(make_hostile_pdf(pages=50), "hostile.pdf", limits=Limits(wall_seconds=30, cpu_seconds=1,
                                                                           memory_mb=1024))


def test_memory_limit_ends_as_a_clear_failure():
    text = ("A line of text that goes on for a while. " * 25 + "\n") * 10_000  # 10 MB, 10 MB of it in memory
    with pytest.raises(ExtractionFailed, match="more than 120 MB of memory|stopped unexpectedly"):
        read_file(text.encode(), "big.txt", limits=Limits(wall_seconds=30, cpu_seconds=30, memory_mb=120))


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: make_deep_page_tree_pdf(5000), "unsafe to read (maximum page tree depth reached"),
    # The 20 MB stream of text operators takes pypdf ~16 s to refuse (bench/ingest_limits.py); this one, at once.
    (lambda: make_huge_stream_pdf(20, array=True), "unsafe to read (reached maximum array element count"),
    (lambda: make_pdf(["Truncated text."])[:150], "damaged"),
    (lambda: make_encrypted_pdf("Secret."), "password-protected"),
    (lambda: b"%PDF-1.7\n" + os.urandom(4096), "damaged"),
], ids=["deep-page-tree", "20-mb-content-stream-array", "truncated", "encrypted", "random-bytes"])
def test_pypdf_limits_and_corrupt_pdfs_end_as_a_reason(make, reason):
    with pytest.raises(ExtractionFailed) as refused:
        read_file(make(), "bad.pdf", limits=ROOMY)
    assert reason in str(refused.value)


@pytest.mark.parametrize(("name", "data", "error", "reason"), [
    ("bomb.docx", make_zip_bomb_docx(uncompressed_mb=20), ExtractionFailed, "zip bomb"),
    ("broken.docx", b"PK\x03\x04" + b"\x00junk" * 100, ExtractionFailed, "damaged"),
    ("photo.txt", make_png(), UnsupportedType, "binary data"),
    ("blank.html", b"<html><script>x()</script></html>", EmptyDocument, "No text"),
], ids=["zip-bomb", "broken-docx", "png-as-text", "html-without-text"])
def test_the_validation_suite_ends_as_a_reason(name, data, error, reason):
    with pytest.raises(error, match=reason):
        read_file(data, name, limits=ROOMY)


def test_a_caller_that_stops_kills_the_reader_at_once():
    calls = []

    def keep_going():
        calls.append(time.monotonic())
        if len(calls) == 3:
            raise Stop()

    started = time.monotonic()
    with pytest.raises(Stop):
        read_file(make_hostile_pdf(pages=4999), "hostile.pdf", limits=ROOMY, keep_going=keep_going)
    assert time.monotonic() - started < 3
    assert children_of(os.getpid()) == set()


def test_scanned_page_is_read_by_ocr_with_its_page_number():
    data = make_pdf(["A typed first page."])  # then a page that is only a picture of text
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for source in (data, make_scanned_pdf(["The lighthouse keeper counts", "seventeen grey gulls."])):
        writer.append(PdfReader(io.BytesIO(source)))
    out = io.BytesIO()
    writer.write(out)
    reading = read_file(out.getvalue(), "mixed.pdf", limits=ROOMY, ocr_languages="eng")
    text, starts = reading.extracted.text, reading.extracted.page_starts
    assert text[:starts[1]].strip() == "A typed first page."
    assert "lighthouse keeper counts seventeen grey gulls" in text[starts[1]:]


def test_without_ocr_a_scan_says_what_is_missing():
    with pytest.raises(EmptyDocument, match="no text layer"):
        read_file(make_scanned_pdf(["Only a picture."]), "scan.pdf", limits=ROOMY, ocr_languages=None)
