"""Bytes of an uploaded file -> plain text (and, for PDFs, where each page starts).

The type is decided from the file name *and* the bytes, never from a client's Content-Type: a PDF
must start like a PDF, a .docx must be a zip holding word/document.xml, and text formats must not
look binary. Every parser works on bytes in memory; nothing is written to disk.

The errors raised here are the ingest errors of knowledge/services.py (re-exported there); each has
a message a user can read and the HTTP status the API answers with.
"""

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

# Extracted text beyond this is refused: it bounds memory and embedding time for one document.
MAX_TEXT_CHARS = 10_000_000
# A .docx is a zip: refuse it before decompressing if it would expand past these (zip bombs).
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_DOCX_RATIO = 200  # real documents compress XML ~5-20x; bombs 1000x and more
MAX_DOCX_PARTS = 10_000  # Word writes a few dozen
MAX_PDF_PAGES = 5_000


class IngestError(Exception):
    """A document could not be ingested; `str(error)` is shown to the user."""

    http_status = 400


class UnsupportedType(IngestError):
    http_status = 415


class EmptyDocument(IngestError):
    http_status = 400


class DocumentTooLarge(IngestError):
    http_status = 413


class ExtractionFailed(IngestError):
    """The file claims a supported type but cannot be read: corrupt, encrypted, a zip bomb."""

    http_status = 422


@dataclass
class Extracted:
    text: str
    content_type: str
    page_starts: list[int] = field(default_factory=list)


TEXT_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
}
HTML_TYPES = {".html": "text/html", ".htm": "text/html"}
PDF_TYPE = "application/pdf"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SUPPORTED_EXTENSIONS = sorted([*TEXT_TYPES, *HTML_TYPES, ".pdf", ".docx"])

# Signatures of common binary formats, so that e.g. a PNG renamed .txt is refused as binary.
_BINARY_MAGIC = (
    b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF", b"MZ", b"\x1f\x8b",
    b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!", b"\xd0\xcf\x11\xe0", b"OggS", b"ID3", b"RIFF",
    b"\x00\x00\x01\x00", b"wOFF", b"SQLite format 3",
)
_BIDI_CONTROLS = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def display_filename(name: str, max_length: int = 255) -> str:
    """The uploaded name as display text: no path parts, no control characters, at most `max_length`."""
    name = re.split(r"[/\\]", name or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    name = name.strip()
    if name in {".", ".."}:
        name = ""
    if len(name) > max_length:
        suffix = PurePosixPath(name).suffix
        keep = suffix if 0 < len(suffix) <= 16 else ""
        name = name[: max_length - len(keep)] + keep
    return name


def extract(data: bytes, filename: str) -> Extracted:
    """Text of `data`, typed by `filename`'s extension and checked against the bytes."""
    if not data:
        raise EmptyDocument("The file is empty.")
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix == ".pdf":
        return _extract_pdf(data)
    if suffix == ".docx":
        return _extract_docx(data)
    if suffix in HTML_TYPES:
        return _finish(_html_to_text(_decode_text(data)), HTML_TYPES[suffix])
    if suffix in TEXT_TYPES:
        return _finish(_decode_text(data), TEXT_TYPES[suffix])
    if suffix == "":
        # No extension: trust the bytes alone, for the formats that have a signature.
        if data.startswith(b"%PDF-"):
            return _extract_pdf(data)
        if data.startswith(b"PK\x03\x04"):
            return _extract_docx(data)
        return _finish(_decode_text(data), "text/plain")
    raise UnsupportedType(
        f"Unsupported file type {suffix!r}. Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
    )


def clean_text(text: str) -> str:
    """Uniform newlines, no control characters but tab/newline, no trailing spaces, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _finish(text: str, content_type: str, page_starts: list[int] | None = None) -> Extracted:
    if len(text) > MAX_TEXT_CHARS:
        raise ExtractionFailed(f"The document holds more than {MAX_TEXT_CHARS:,} characters of text.")
    if not text.strip():
        raise EmptyDocument("No text could be extracted from the file.")
    return Extracted(text=text, content_type=content_type, page_starts=page_starts or [])


def _decode_text(data: bytes) -> str:
    """Decode text bytes (UTF-8, UTF-16 with a BOM, else Windows-1252); refuse anything binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return clean_text(data.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise UnsupportedType("The file is not valid UTF-16 text.") from exc
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:65536]:
        raise UnsupportedType("The file holds binary data, not text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    sample = text[:65536]
    controls = sum(1 for ch in sample if ch not in "\n\r\t\f" and unicodedata.category(ch) == "Cc")
    if controls > max(8, len(sample) // 100) or sample.count("\ufffd") > max(8, len(sample) // 100):
        raise UnsupportedType("The file holds binary data, not text.")
    return clean_text(text)


_HTML_DROP = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object", "embed", "canvas")
_HTML_BLOCKS = frozenset(
    "address article aside blockquote dd details dialog div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tr ul caption".split()
)
_HTML_HIDDEN = (
    '//*[@hidden or @aria-hidden="true"'
    ' or contains(translate(translate(@style, " ", ""), "DISPLAYNOEVSBLTH", "displaynoevsblth"), "display:none")'
    ' or contains(translate(translate(@style, " ", ""), "DISPLAYNOEVSBLTH", "displaynoevsblth"), "visibility:hidden")]'
)


def _html_to_text(html: str) -> str:
    """The visible text of a page: no scripts, styles or hidden elements; blocks on their own lines.

    lxml's C parser, not BeautifulSoup: on a 5 MB page it takes ~0.3 s where bs4 takes 4-17 s, and an
    upload may be 20 MB.
    """
    import lxml.html
    from lxml import etree

    html = re.sub(r"^\s*<\?xml[^>]*>", "", html)  # lxml refuses str input that declares an encoding
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return ""
    title = " ".join((root.findtext(".//title") or "").split())
    etree.strip_elements(root, etree.Comment, etree.ProcessingInstruction, *_HTML_DROP, with_tail=False)
    for element in root.xpath(_HTML_HIDDEN):
        if element.getparent() is not None:
            element.drop_tree()  # keeps the text that follows it
    inside_pre = {e for pre in root.iter("pre") for e in pre.iter()}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element not in inside_pre:  # HTML collapses source whitespace, except in <pre>
            element.text = re.sub(r"\s+", " ", element.text) if element.text else element.text
        if element.tail and element.getparent() not in inside_pre:
            element.tail = re.sub(r"\s+", " ", element.tail)
        if element.tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif element.tag in _HTML_BLOCKS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
        elif element.tag in ("td", "th"):
            element.tail = " | " + (element.tail or "") if element.getnext() is not None else element.tail
    text = "\n".join(line.strip() for line in "".join(root.itertext()).splitlines())
    return clean_text(f"{title}\n\n{text}" if title else text)


def _extract_pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if b"%PDF-" not in data[:1024]:  # the header may follow a little junk, as readers allow
        raise UnsupportedType("The file is named .pdf but is not a PDF.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An empty user password (owner-only restrictions) still opens; a real password does not.
            try:
                opened = reader.decrypt("")
            except Exception:  # pypdf raises several types for unsupported crypto
                opened = 0
            if not opened:
                raise ExtractionFailed("The PDF is password-protected; upload an unencrypted copy.")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise ExtractionFailed(f"The PDF has more than {MAX_PDF_PAGES} pages.")
        parts: list[str] = []
        page_starts: list[int] = []
        offset = 0
        for number, page in enumerate(reader.pages):
            page_text = clean_text(page.extract_text() or "")
            if number:
                offset += 2  # the "\n\n" joining pages
            page_starts.append(offset)
            parts.append(page_text)
            offset += len(page_text)
            if offset > MAX_TEXT_CHARS:
                break
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, NotImplementedError, AssertionError) as exc:
        raise ExtractionFailed("The PDF is damaged and could not be read.") from exc
    text = "\n\n".join(parts)
    if not text.strip():
        raise EmptyDocument("The PDF has no extractable text (a scan without OCR?).")
    return _finish(text, PDF_TYPE, page_starts)


def _zip_entry_count(data: bytes) -> int | None:
    """Entries declared by the zip's end-of-central-directory record (0xFFFF when it defers to zip64)."""
    tail = data[-(65535 + 22):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    return int.from_bytes(tail[at + 10:at + 12], "little")


def _check_zip(data: bytes) -> None:
    """Refuse a zip whose declared sizes or compression ratios are those of a bomb, before inflating it."""
    # zipfile reads the whole central directory on opening: count its entries first, so that a small
    # file declaring a million parts cannot make it build a million objects.
    entries = _zip_entry_count(data)
    if entries is not None and entries > MAX_DOCX_PARTS:
        raise ExtractionFailed(f"The .docx file has more than {MAX_DOCX_PARTS:,} parts; refused.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ExtractionFailed("The .docx file is damaged (not a readable zip archive).") from exc
    names = {info.filename for info in infos}
    if "word/document.xml" not in names:
        raise UnsupportedType("The file is named .docx but is not a Word document.")
    total = sum(info.file_size for info in infos)
    if total > MAX_DOCX_UNCOMPRESSED:
        raise ExtractionFailed("The .docx file expands to too much data to be read safely.")
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > MAX_DOCX_RATIO * max(info.compress_size, 1):
            raise ExtractionFailed("The .docx file is compressed suspiciously well (a zip bomb?); refused.")


def _extract_docx(data: bytes) -> Extracted:
    if not data.startswith(b"PK\x03\x04"):
        raise UnsupportedType("The file is named .docx but is not a Word document.")
    _check_zip(data)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = [cell.text.strip() for cell in row.cells]
                    blocks.append(" | ".join(cells))
            else:
                blocks.append(block.text)
    except IngestError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types for a broken package
        raise ExtractionFailed("The .docx file is damaged and could not be read.") from exc
    return _finish(clean_text("\n\n".join(b for b in blocks if b.strip())), DOCX_TYPE)
