"""File bytes -> text: every supported format from small real files, and every kind of bad input."""

import pytest

from knowledge import extraction
from knowledge.extraction import (
    EmptyDocument,
    ExtractionFailed,
    UnsupportedType,
    display_filename,
    extract,
)
from tests.files import make_docx, make_encrypted_pdf, make_pdf, make_png, make_zip_bomb_docx


def test_plain_text_and_markdown_are_read_as_utf8():
    assert extract("Grüße aus Köln 🙂\r\nzweite Zeile".encode(), "notes.txt").text == "Grüße aus Köln 🙂\nzweite Zeile"
    result = extract(b"# Title\n\nSome *markdown*.", "readme.md")
    assert result.text == "# Title\n\nSome *markdown*."
    assert result.content_type == "text/markdown"


def test_utf8_bom_and_utf16_are_decoded():
    assert extract("\ufeffhello".encode(), "a.txt").text == "hello"
    assert extract("hello wörld".encode("utf-16"), "a.txt").text == "hello wörld"


def test_windows_1252_text_falls_back_without_failing():
    assert extract("café au lait".encode("cp1252"), "menu.txt").text == "café au lait"


def test_csv_and_json_are_kept_as_text():
    assert extract(b"name,age\nada,36\n", "people.csv").text == "name,age\nada,36"
    result = extract(b'{"answer": 42}', "data.json")
    assert result.text == '{"answer": 42}'
    assert result.content_type == "application/json"


def test_html_keeps_visible_text_and_drops_scripts_and_styles():
    html = b"""<html><head><title>Guide</title><style>p { color: red }</style>
    <script>alert('x')</script></head><body><h1>Welcome</h1><p>Read <b>this</b> first.</p>
    <script>var secret = 1;</script><noscript>enable js</noscript><div hidden>hidden div</div>
    <span style="display: none">invisible span</span><p aria-hidden="true">aria hidden</p></body></html>"""
    text = extract(html, "page.htm").text
    assert "hidden div" not in text and "invisible" not in text and "aria hidden" not in text
    assert "Guide" in text and "Welcome" in text and "Read" in text and "first." in text
    assert "alert" not in text and "color" not in text and "secret" not in text and "enable js" not in text


def test_html_blocks_are_lines_and_source_whitespace_collapses():
    html = b"""<?xml version="1.0" encoding="utf-8"?>
    <html><body><div>Intro<p>A paragraph
       wrapped   in the source.</p>After</div>one<br>two<ul><li>first</li><li>second</li></ul>
    <table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>y</td></tr></table><!-- a comment --></body></html>"""
    lines = [line for line in extract(html, "page.html").text.splitlines() if line]
    assert lines == ["Intro", "A paragraph wrapped in the source.", "After", "one", "two", "first", "second",
                     "k | v", "x | y"]


def test_html_without_visible_text_is_empty():
    with pytest.raises(EmptyDocument):
        extract(b"<html><head><title></title><script>only()</script></head><body> </body></html>", "a.html")


def test_pdf_text_and_page_starts():
    result = extract(make_pdf(["First page text.", "Second page text."]), "doc.pdf")
    assert result.content_type == "application/pdf"
    assert "First page text." in result.text and "Second page text." in result.text
    assert result.page_starts[0] == 0
    assert result.text[result.page_starts[1]:].startswith("Second page text.")


def test_docx_paragraphs_and_tables():
    result = extract(make_docx(["Opening paragraph.", "Closing paragraph."], [["k", "v"], ["x", "y"]]), "r.docx")
    assert "Opening paragraph." in result.text and "Closing paragraph." in result.text
    assert "k | v" in result.text and "x | y" in result.text


def test_no_extension_is_typed_by_the_bytes():
    assert extract(make_pdf(["Sniffed."]), "upload").content_type == "application/pdf"
    assert extract(b"just words", "upload").content_type == "text/plain"


def test_empty_file_is_empty_document():
    with pytest.raises(EmptyDocument):
        extract(b"", "a.txt")
    with pytest.raises(EmptyDocument):
        extract(b"  \n\n\t ", "a.txt")
    with pytest.raises(EmptyDocument):
        extract(make_pdf([""]), "blank.pdf")


def test_unknown_extension_is_unsupported():
    with pytest.raises(UnsupportedType):
        extract(b"text", "a.exe")


def test_png_renamed_txt_is_unsupported():
    with pytest.raises(UnsupportedType):
        extract(make_png(), "photo.txt")


def test_binary_without_magic_is_unsupported():
    with pytest.raises(UnsupportedType):
        extract(bytes(range(256)) * 10, "data.csv")


def test_binary_without_nul_bytes_is_unsupported():
    data = bytes((i * 37 + 11) % 255 + 1 for i in range(5000))  # every byte value but 0, no magic
    with pytest.raises(UnsupportedType):
        extract(data, "data.txt")


def test_html_renamed_pdf_is_unsupported():
    with pytest.raises(UnsupportedType):
        extract(b"<html><body>not a pdf</body></html>", "report.pdf")


def test_text_renamed_docx_is_unsupported():
    with pytest.raises(UnsupportedType):
        extract(b"plain words", "letter.docx")


def test_truncated_pdf_fails_cleanly():
    with pytest.raises(ExtractionFailed):
        extract(make_pdf(["Some text."])[:120], "cut.pdf")


def test_encrypted_pdf_fails_cleanly():
    with pytest.raises(ExtractionFailed, match="password"):
        extract(make_encrypted_pdf("Secret text."), "locked.pdf")


def test_broken_docx_fails_cleanly():
    with pytest.raises(ExtractionFailed):
        extract(b"PK\x03\x04" + b"\x00garbage" * 50, "broken.docx")


def test_zip_with_a_garbage_document_xml_fails_cleanly():
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<not really xml")
    with pytest.raises(ExtractionFailed):
        extract(out.getvalue(), "fake.docx")


def test_docx_with_too_many_parts_is_refused_before_opening(monkeypatch):
    import io
    import zipfile

    monkeypatch.setattr(extraction, "MAX_DOCX_PARTS", 50)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        for n in range(60):
            archive.writestr(f"word/media/{n}.bin", b"")
    with pytest.raises(ExtractionFailed, match="parts"):
        extract(out.getvalue(), "many.docx")


def test_zip_bomb_docx_is_refused_by_ratio_before_inflating():
    with pytest.raises(ExtractionFailed, match="zip bomb"):
        extract(make_zip_bomb_docx(uncompressed_mb=20), "bomb.docx")


def test_zip_bomb_docx_is_refused_by_total_size():
    with pytest.raises(ExtractionFailed, match="too much data"):
        extract(make_zip_bomb_docx(uncompressed_mb=extraction.MAX_DOCX_UNCOMPRESSED // 2**20 + 1), "bomb.docx")


def test_extracted_text_is_capped(monkeypatch):
    monkeypatch.setattr(extraction, "MAX_TEXT_CHARS", 100)
    with pytest.raises(ExtractionFailed):
        extract(b"word " * 100, "long.txt")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        ("evil\x00name.txt", "evilname.txt"),
        ("line\nbreak.md", "linebreak.md"),
        ("\u202eexe.txt", "exe.txt"),
        ("..", ""),
        ("résumé 🙂.pdf", "résumé 🙂.pdf"),
    ],
)
def test_display_filename_strips_paths_and_control_characters(raw, shown):
    assert display_filename(raw) == shown


def test_display_filename_truncates_and_keeps_the_extension():
    name = display_filename("🙂" * 300 + ".pdf")
    assert len(name) == 255 and name.endswith(".pdf")
