"""A PDF's bytes -> its text, page by page: the text layer (pypdf), OCR for pages that have none, cleaned.

Runs inside the reading sandbox (knowledge/sandbox.py), which bounds its time and memory from outside:
a hostile PDF (thousands of pages sharing one expensive content stream) is stopped there, not here.
pypdf's own safety limits (a page tree too deep, a stream too long) end as a clear ExtractionFailed.
"""

import io
from collections.abc import Callable
from pathlib import Path

from knowledge import ocr
from knowledge.errors import EmptyDocument, ExtractionFailed, IngestError, UnsupportedType
from knowledge.pdf_cleaning import clean_pages

MAX_PDF_PAGES = 5_000

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def read_pdf(data: bytes, *, max_chars: int, ocr_languages: str | None, ocr_dpi: int, scratch: Path | None,
             progress: Progress) -> tuple[list[str], bool]:
    """The cleaned text of each page, and whether OCR could have run. OCR runs only with `ocr_languages`
    and a `scratch` folder (the page images go there), for the pages without a text layer."""
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PyPdfError

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
        total = len(reader.pages)
        if total > MAX_PDF_PAGES:
            raise ExtractionFailed(f"The PDF has more than {MAX_PDF_PAGES:,} pages.")
        pages: list[str] = []
        size = 0
        for number, page in enumerate(reader.pages, start=1):
            progress("reading", number - 1, total)
            text = page.extract_text() or ""
            pages.append(text)
            size += len(text)
            if size > max_chars:
                raise ExtractionFailed(f"The document holds more than {max_chars:,} characters of text.")
        progress("reading", total, total)
    except IngestError:
        raise
    except LimitReachedError as exc:
        raise ExtractionFailed(f"The PDF is built in a way that is unsafe to read ({_sentence(exc)}).") from exc
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, NotImplementedError, AssertionError, ZeroDivisionError) as exc:
        raise ExtractionFailed("The PDF is damaged and could not be read.") from exc
    can_ocr = bool(ocr_languages and scratch is not None and ocr.available())
    if can_ocr:
        _recognise_blank_pages(data, pages, languages=ocr_languages, dpi=ocr_dpi, scratch=scratch, progress=progress)
    return clean_pages(pages), can_ocr


def _recognise_blank_pages(data: bytes, pages: list[str], *, languages: str, dpi: int, scratch: Path,
                           progress: Progress) -> None:
    """Fill in, by OCR, the pages whose text layer is empty (scanned pages are images)."""
    blank = [i for i, text in enumerate(pages) if not text.strip()]
    if not blank:
        return
    pdf = scratch / "document.pdf"
    pdf.write_bytes(data)
    for done, index in enumerate(blank):
        progress("ocr", done, len(blank))
        try:
            pages[index] = ocr.page_text(pdf, index + 1, languages=languages, dpi=dpi, scratch=scratch)
        except ocr.OcrFailed as exc:
            raise ExtractionFailed(f"Page {index + 1} has no text layer and OCR could not read it ({exc}).") from exc
    progress("ocr", len(blank), len(blank))


def no_text_error(can_ocr: bool) -> EmptyDocument:
    if can_ocr:
        return EmptyDocument("No text could be read from the PDF, not even by OCR.")
    return EmptyDocument("The PDF has no text layer (a scan?) and OCR is not available here.")


def _sentence(exc: Exception) -> str:
    text = str(exc).strip().rstrip(".!")
    return text[:1].lower() + text[1:] if text else "a safety limit was reached"
