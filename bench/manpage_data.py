"""A keyword-style retrieval set with graded relevance, from the manual pages installed on this machine.

Passages: the DESCRIPTION section of section 1 and 8 manual pages (English, /usr/share/man/man{1,8}; not
the Google Cloud CLI's), rendered by `man`, indentation removed, cut at a paragraph boundary after
~MAX_CHARS characters (an "abstract" of the page). The page's NAME line is not indexed: it is the query.

Queries: the summary of a page's NAME line ("ls - list directory contents" asks "list directory
contents"): a short technical query, in the words of whoever wrote the summary, not of the description.
Relevance, graded: 2 for the page itself, 1 for the pages its SEE ALSO section names that are in the set.

Rendering ~2,500 pages takes a minute or two, so the set is cached in bench/data/manpages.json (gitignored);
delete that file to rebuild it. Which pages exist depends on the Debian packages installed (the machine's
image); the figures are comparable between runs on one image. Deterministic for a given set of pages
(seeded sampling over sorted names).
"""

import json
import os
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

MAN_DIRS = ("/usr/share/man/man1", "/usr/share/man/man8")
CACHE = Path(__file__).resolve().parent / "data" / "manpages.json"
MAX_CHARS = 1200
MIN_CHARS = 200
SAMPLE = 2500
# Google Cloud CLI pages (16,000 near-identical ones, where that tool is installed) would swamp the set.
SKIP = ("gcloud_", "bq.", "gsutil")
_SEE_ALSO_REF = re.compile(r"([\w.+-]+)\s*\((\d)\w*\)")
_HEADING = re.compile(r"^[A-Z][A-Z0-9 /-]+$")


@dataclass(frozen=True)
class Page:
    key: str  # "ls.1"
    text: str  # the description
    summary: str
    see_also: tuple[str, ...]


def _render(path: str) -> str:
    env = dict(os.environ, MANWIDTH="2000", LANG="C.UTF-8", MAN_KEEP_FORMATTING="")
    try:
        out = subprocess.run(["man", "--nh", "--nj", "-l", path], capture_output=True, text=True, env=env,
                             timeout=20)
    except subprocess.TimeoutExpired:
        return ""
    return re.sub(r".\x08", "", out.stdout)


def _sections(rendered: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in rendered.splitlines():
        if _HEADING.match(line.rstrip()):
            current = line.strip()
            sections.setdefault(current, [])
        elif current:
            sections[current].append(line)
    return sections


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def _page(path: str) -> Page | None:
    name = os.path.basename(path).removesuffix(".gz")
    sections = _sections(_render(path))
    names, description = sections.get("NAME"), sections.get("DESCRIPTION")
    if not names or not description:
        return None
    line = " ".join(" ".join(names).split())
    summary = line.split(" - ", 1)[1].strip() if " - " in line else ""
    text = ""
    for paragraph in _paragraphs(description):
        if text and len(text) + len(paragraph) > MAX_CHARS:
            break
        text = f"{text}\n\n{paragraph}" if text else paragraph
    references = " ".join(sections.get("SEE ALSO", []))
    see_also = tuple(f"{m.group(1)}.{m.group(2)}" for m in _SEE_ALSO_REF.finditer(references))
    return Page(name.rsplit(".", 1)[0] + "." + name.rsplit(".", 1)[1][:1], text[:MAX_CHARS * 2], summary, see_also)


def _usable(page: Page | None) -> bool:
    if page is None or len(page.text) < MIN_CHARS:
        return False
    words = page.summary.split()
    return 2 <= len(words) <= 12 and "manual page" not in page.summary.lower()


def build(seed: int = 11) -> tuple[list[Page], list[tuple[str, dict[str, int]]]]:
    """(pages, queries): each query is (text, {page key: grade}). Cached in bench/data/manpages.json."""
    if CACHE.exists():
        data = json.loads(CACHE.read_text())
        return [Page(p["key"], p["text"], p["summary"], tuple(p["see_also"])) for p in data["pages"]], \
            [(q["text"], q["relevant"]) for q in data["queries"]]
    files = sorted(str(p) for d in MAN_DIRS if os.path.isdir(d) for p in Path(d).iterdir()
                   if not p.is_symlink() and p.stat().st_size > 400 and not p.name.startswith(SKIP))
    if not files:
        return [], []
    rng = random.Random(seed)
    files = sorted(rng.sample(files, min(SAMPLE, len(files))))
    with ThreadPoolExecutor(max_workers=2) as pool:
        pages = [p for p in pool.map(_page, files) if _usable(p)]
    seen_text, seen_summary, kept = set(), set(), []
    for page in pages:  # pages of one tool often share a description or a summary: keep the first
        if page.text in seen_text or page.summary.lower() in seen_summary:
            continue
        seen_text.add(page.text)
        seen_summary.add(page.summary.lower())
        kept.append(page)
    keys = {p.key for p in kept}
    queries = []
    for page in kept:
        relevant = {ref: 1 for ref in page.see_also if ref in keys and ref != page.key}
        relevant[page.key] = 2
        queries.append((page.summary, relevant))
    CACHE.parent.mkdir(exist_ok=True)
    CACHE.write_text(json.dumps({
        "pages": [{"key": p.key, "text": p.text, "summary": p.summary, "see_also": list(p.see_also)} for p in kept],
        "queries": [{"text": t, "relevant": r} for t, r in queries]}))
    return kept, queries


if __name__ == "__main__":
    pages, queries = build()
    graded = sum(len(r) > 1 for _, r in queries)
    print(f"{len(pages)} pages, {len(queries)} queries ({graded} with SEE ALSO pages graded 1)")
    for text, relevant in queries[:5]:
        print(f"  {text!r} -> {relevant}")
