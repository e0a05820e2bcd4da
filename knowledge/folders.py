"""Files and folders on disk -> documents (`manage.py ingest`): collect the files, submit each, keep a folder in sync.

Every document from a file remembers its absolute path (Document.source_path). In sync mode a file is
- `unchanged` when the document of its path has the same bytes,
- `replaced` when its bytes changed: the new version is queued with `replaces` pointing at the old one, which
  stays searchable until the new one is ready, and goes in the same transaction (knowledge/processing.py);
- `added` when no document has its path;
and with `prune`, documents whose file is gone from the folders given are deleted (`removed`).
Sync and prune look inside one collection only (the one the files go to): the same folder synced into another
collection leaves this one's documents alone.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from knowledge import services
from knowledge.models import Collection, Document

ADDED, REPLACED, UNCHANGED = "added", "replaced", "unchanged"


@dataclass(frozen=True)
class Submitted:
    outcome: str  # ADDED, REPLACED or UNCHANGED
    document: Document
    replaced: Document | None = None


def collect_files(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named, and files under folders named (recursively, skipping hidden files and folders), sorted."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ))
        elif path.is_file():
            files.append(path)
        else:
            missing.append((raw, "No such file or folder."))
    return files, missing


def submit_file(path: Path, *, collection: Collection, title: str = "", sync: bool = False,
                enqueue: bool = True) -> Submitted:
    """Queue one file as a document of `collection` (see the module's docstring for `sync`). Raises IngestError
    (DuplicateDocument when another document, in any collection, has the same bytes) or OSError."""
    if path.stat().st_size > settings.DOCUMENT_MAX_BYTES:
        raise services.too_large()
    data = path.read_bytes()
    key = source_key(path)
    replaced = None
    if sync:
        versions = Document.objects.filter(source_path=key, collection=collection).exclude(
            status=Document.Status.FAILED)
        same = versions.filter(sha256=hashlib.sha256(data).hexdigest()).first()
        if same is not None:
            return Submitted(UNCHANGED, same)
        for outdated in versions.exclude(status=Document.Status.READY):  # an earlier change, not ready yet
            services.document_delete(document=outdated)
        replaced = versions.filter(status=Document.Status.READY).order_by("-created_at").first()
    document = services.document_submit(data=data, filename=path.name, title=title, source_path=key,
                                        replaces=replaced, enqueue=enqueue, collection=collection)
    return Submitted(REPLACED if replaced else ADDED, document, replaced)


def prune(roots: list[str], kept: set[str], *, collection: Collection) -> list[Document]:
    """Delete the documents of `collection` read from under `roots` (folders, or files) whose path is not in
    `kept`."""
    removed = []
    for raw in roots:
        root = Path(raw)
        if root.is_dir():
            documents = collection.documents.filter(source_path__startswith=source_key(root).rstrip("/") + "/")
        elif root.is_file():
            documents = collection.documents.filter(source_path=source_key(root))
        else:
            continue  # a folder that is not there (a typo?) prunes nothing
        for document in documents.defer("text", "page_starts"):
            if document.source_path not in kept:
                services.document_delete(document=document)
                removed.append(document)
    return removed


def source_key(path: Path) -> str:
    return str(path.resolve())
