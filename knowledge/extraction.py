"""Bytes of an uploaded file -> plain text (and, for PDFs, where each page starts).

The type is decided from the file name *and* the bytes, never from a client's Content-Type: a PDF
must start like a PDF, a .docx must be a zip holding word/document.xml, and text formats must not
look binary. Every parser works on bytes in memory; nothing is written to disk.

Nothing here touches Django: this runs inside the reading sandbox (knowledge/sandbox.py), a child process
with hard limits. `sniff` is the cheap part that the upload request runs itself, before queueing a job.
The errors raised (knowledge/errors.py) carry a message a user can read.
"""

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from knowledge import pdf
from knowledge.errors import EmptyDocument, ExtractionFailed, IngestError, UnsupportedType

# Extracted text beyond this is refused: it bounds memory and embedding time for one document.
MAX_TEXT_CHARS = 10_000_000
# A .docx is a zip: refuse it before decompressing if it would expand past these (zip bombs).
MAX_DOCX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_DOCX_RATIO = 200  # real documents compress XML ~5-20x; bombs 1000x and more
MAX_DOCX_PARTS = 10_000  # Word writes a few dozen
MAX_PDF_PAGES = pdf.MAX_PDF_PAGES
SNIFF_BYTES = 65536  # what the upload request looks at to refuse binary data under a text name


@dataclass
class Extracted:
    text: str
    content_type: str
    page_starts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ReadOptions:
    """How to read: OCR for PDF pages without text (with `ocr_languages` and a `scratch` folder for images)."""

    ocr_languages: str | None = None
    ocr_dpi: int = 300
    scratch: Path | None = None


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


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


def sniff(data: bytes, filename: str) -> str:
    """The content type `data` will be read as, from its name and its first bytes; the cheap refusals
    (empty, unsupported, binary under a text name) that an upload gets at once. Parsing is not done here."""
    if not data.strip(b" \t\r\n\x0b\x0c"):
        raise EmptyDocument("The file is empty." if not data else "The file holds only blank space.")
    kind = _kind(data, filename)
    if kind == PDF_TYPE and b"%PDF-" not in data[:1024]:
        raise UnsupportedType("The file is named .pdf but is not a PDF.")
    if kind == DOCX_TYPE and not data.startswith(b"PK\x03\x04"):
        raise UnsupportedType("The file is named .docx but is not a Word document.")
    if kind not in (PDF_TYPE, DOCX_TYPE) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        _decode_text(_utf8_prefix(data, SNIFF_BYTES))  # raises UnsupportedType for binary data
    return kind


def _utf8_prefix(data: bytes, size: int) -> bytes:
    """The first `size` bytes or fewer, not cutting a UTF-8 character in two."""
    sample = data[:size]
    if len(data) > size:
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start >= len(sample) - 3:
                sample = sample[:exc.start]
    return sample


def extract(data: bytes, filename: str, *, options: ReadOptions = ReadOptions(),
            progress: Callable[[str, int, int], None] = _no_progress) -> Extracted:
    """Text of `data`, typed by `filename`'s extension and checked against the bytes."""
    if not data:
        raise EmptyDocument("The file is empty.")
    kind = _kind(data, filename)
    if kind == PDF_TYPE:
        return _extract_pdf(data, options, progress)
    if kind == DOCX_TYPE:
        return _extract_docx(data)
    if kind == "text/html":
        return _finish(_html_to_text(_decode_text(data)), kind)
    return _finish(_decode_text(data), kind)


def _kind(data: bytes, filename: str) -> str:
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix == ".pdf":
        return PDF_TYPE
    if suffix == ".docx":
        return DOCX_TYPE
    if suffix in HTML_TYPES:
        return HTML_TYPES[suffix]
    if suffix in TEXT_TYPES:
        return TEXT_TYPES[suffix]
    if suffix == "":
        # No extension: trust the bytes alone, for the formats that have a signature.
        if data.startswith(b"%PDF-"):
            return PDF_TYPE
        if data.startswith(b"PK\x03\x04"):
            return DOCX_TYPE
        return "text/plain"
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


def _extract_pdf(data: bytes, options: ReadOptions, progress) -> Extracted:
    pages, could_ocr = pdf.read_pdf(data, max_chars=MAX_TEXT_CHARS, ocr_languages=options.ocr_languages,
                                    ocr_dpi=options.ocr_dpi, scratch=options.scratch, progress=progress)
    parts: list[str] = []
    page_starts: list[int] = []
    offset = 0
    for number, page_text in enumerate(pages):
        page_text = clean_text(page_text)
        if number:
            offset += 2  # the "\n\n" joining pages
        page_starts.append(offset)
        parts.append(page_text)
        offset += len(page_text)
    text = "\n\n".join(parts)
    if not text.strip():
        raise pdf.no_text_error(could_ocr)
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
