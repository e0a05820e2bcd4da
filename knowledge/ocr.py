"""The one seam to the OCR engine: a PDF page -> its text, through Poppler's `pdftoppm` and Tesseract.

Both are Debian packages (`poppler-utils`, `tesseract-ocr`, `tesseract-ocr-eng`; scripts/system-deps.sh).
This runs inside the reading sandbox (knowledge/sandbox.py): the programs inherit its memory and CPU
limits, and the wall-clock limit kills them with it. Tesseract is kept to one thread, so OCR never
takes more than the one core the reader was given.
"""

import os
import shutil
import subprocess
from pathlib import Path


class OcrFailed(Exception):
    pass


def available() -> bool:
    return bool(shutil.which("tesseract") and shutil.which("pdftoppm"))


def page_text(pdf: Path, page: int, *, languages: str, dpi: int, scratch: Path) -> str:
    """The text Tesseract reads on page `page` (1-based) of the PDF file `pdf`, rendered at `dpi`."""
    image = scratch / f"page-{page}"
    _run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", str(dpi), "-gray", "-png", "-singlefile",
          str(pdf), str(image)])
    png = image.with_suffix(".png")
    try:
        return _run(["tesseract", str(png), "stdout", "-l", languages, "--psm", "3"])
    finally:
        png.unlink(missing_ok=True)


def _run(command: list[str]) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_THREAD_LIMIT": "1", "LC_ALL": "C.UTF-8"}
    try:
        done = subprocess.run(command, capture_output=True, env=env, check=False)
    except OSError as exc:
        raise OcrFailed(f"{command[0]} could not be started: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OcrFailed(f"{command[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout.decode("utf-8", "replace")
