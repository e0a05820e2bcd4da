"""Small real files for the knowledge-base tests, made in memory: PDFs (plain, multi-line, scanned, hostile),
DOCX, a zip bomb, a PNG."""

import io
import random
import struct
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path

FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def write_pdf(objects: list[bytes]) -> bytes:
    """A PDF file of these objects (object 1 is the catalog), with a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _stream(body: bytes, extra: bytes = b"", compress: bool = False) -> bytes:
    if compress:
        body, extra = zlib.compress(body, 9), extra + b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(body), extra) + body + b"\nendstream"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF, one Helvetica text line per page (written by hand, so pypdf reads it back)."""
    return make_pdf_lines([[text] for text in pages])


def make_pdf_lines(pages: list[list[str]], font_size: int = 12) -> bytes:
    """A PDF whose pages hold these lines, top to bottom, in Helvetica."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    font_id = 3 + 2 * len(pages)
    kids = []
    for lines in pages:
        page_id = len(objects) + 1
        kids.append(f"{page_id} 0 R")
        shown = " ".join(f"({_escape(line)}) Tj T*" for line in lines)
        stream = f"BT /F1 {font_size} Tf {font_size * 1.4:g} TL 72 740 Td {shown} ET".encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_id + 1} 0 R "
                       f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        objects.append(_stream(stream))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    objects.append(FONT)
    return write_pdf(objects)


def make_scanned_pdf(lines: list[str]) -> bytes:
    """A one-page PDF that is only a picture of these lines (rendered by Poppler's pdftoppm): no text layer."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "text.pdf"
        source.write_bytes(make_pdf_lines([lines], font_size=20))
        subprocess.run(["pdftoppm", "-r", "150", "-gray", "-singlefile", str(source), str(Path(folder) / "page")],
                       check=True)
        pgm = (Path(folder) / "page.pgm").read_bytes()
    # Binary PGM: "P5 <width> <height> 255" then one byte per pixel.
    width, height = (int(n) for n in pgm.split(maxsplit=3)[1:3])
    pixels = pgm[-width * height:]
    image = _stream(pixels, b" /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                            b"/BitsPerComponent 8" % (width, height), compress=True)
    content = _stream(b"q 612 0 0 792 0 0 cm /Im1 Do Q")
    return write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /XObject << /Im1 5 0 R >> >> >>",
        content,
        image,
    ])


def make_hostile_pdf(pages: int = 4999, operations: int = 20_000) -> bytes:
    """Issue 9's attack: many pages sharing one content stream that is expensive to extract text from
    (`operations` tiny text moves; 20,000 cost pypdf ~0.8 s of CPU per page, so 4,999 pages take hours).
    About 850 KB with the defaults."""
    rng = random.Random(9)
    body = [b"BT /F1 12 Tf"]
    for _ in range(operations):
        word = bytes(rng.choice(b"abcdefghij") for _ in range(3))
        body.append(b"%d %d Td (%s) Tj" % (rng.randint(-5, 5), rng.randint(-5, 5), word))
    body.append(b"ET")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", _stream(b"\n".join(body), compress=True), FONT]
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
            b"/Resources << /Font << /F1 4 0 R >> >> >>")
    first = len(objects) + 1
    objects.extend([page] * pages)
    kids = b" ".join(b"%d 0 R" % n for n in range(first, first + pages))
    objects[1] = b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages
    return write_pdf(objects)


def make_deep_page_tree_pdf(depth: int = 5000) -> bytes:
    """A page tree of `depth` nested /Pages nodes above one page (pypdf refuses past 100 levels)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        me = 2 + level
        parent = b" /Parent %d 0 R" % (me - 1) if level else b""
        objects.append(b"<< /Type /Pages /Kids [%d 0 R] /Count 1%s >>" % (me + 1, parent))
    objects.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] >>" % (depth + 1))
    return write_pdf(objects)


def make_huge_stream_pdf(megabytes: int = 20, array: bool = False) -> bytes:
    """One page whose content stream inflates to `megabytes` MB: text operators, which pypdf parses for ~16 s
    before its parsing budget stops it, or (`array`) one array of numbers, which trips its array limit at once."""
    line = b"BT /F1 12 Tf 72 720 Td (word) Tj ET\n"
    body = line * (megabytes * 1024 * 1024 // len(line) + 1)
    if array:
        body = b"BT /F1 12 Tf [" + b"0 " * (megabytes * 1024 * 1024 // 2) + b"] TJ ET"
    return write_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(body, compress=True),
        FONT,
    ])


def make_encrypted_pdf(text: str, password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([text]))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb_docx(uncompressed_mb: int = 300) -> bytes:
    """A zip that looks like a .docx and whose document.xml inflates to `uncompressed_mb` MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(uncompressed_mb):
                member.write(block)
    return out.getvalue()


def make_png() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
