"""Original files: kept in Django's "originals" storage once their document is ready, handed back as downloads.

An upload's bytes travel to the worker as UploadPart rows (knowledge/uploads.py); when the document becomes
ready the job writes them once to the storage (settings.STORAGES["originals"]: a folder by default, any Django
storage backend by configuration) under a random name, never the uploader's, and drops the rows. A failed
document keeps its rows for a retry and has no original yet. Deleting a document deletes its file once the
deletion commits (a signal, so every way of deleting a document is covered: the API, the admin, a folder
sync's replacement, a failed attempt making way for the same bytes).

Downloads never trust the stored type or name: the content type comes from DOWNLOAD_TYPES (what our reader
accepted the file as), anything a browser could run (HTML) goes as application/octet-stream, always as an
attachment with nosniff and a sandboxing CSP, under a sanitised file name.
"""

import re
import unicodedata
import uuid
from datetime import timedelta
from urllib.parse import quote

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from knowledge.extraction import DOCX_TYPE, PDF_TYPE

# What each type our reader accepts is served as, and the extension a download gets when its name has none.
# HTML (and anything unknown) goes as opaque bytes: a browser that ignored `attachment` would still not render it.
DOWNLOAD_TYPES = {
    PDF_TYPE: ("application/pdf", ".pdf"),
    DOCX_TYPE: (DOCX_TYPE, ".docx"),
    "text/plain": ("text/plain", ".txt"),
    "text/markdown": ("text/markdown", ".md"),
    "text/csv": ("text/csv", ".csv"),
    "application/json": ("application/json", ".json"),
    "text/html": ("application/octet-stream", ".html"),
}
OPAQUE = "application/octet-stream"


class OriginalsStorage(LazyObject):
    """settings.STORAGES["originals"], looked up when first used (and again after the setting changes, in tests)."""

    def _setup(self):
        self._wrapped = storages["originals"]


originals = OriginalsStorage()


def originals_storage():
    """The Document.original field's storage (a callable, so migrations name it rather than freeze it)."""
    return originals


@receiver(setting_changed)
def _storages_changed(*, setting, **kwargs):
    if setting == "STORAGES":
        originals._wrapped = empty


def original_name(document, filename: str) -> str:
    """A random name in the storage, with the extension of the document's type: the uploader's name is display
    text only (Document.filename), never part of a path."""
    return uuid.uuid4().hex + DOWNLOAD_TYPES.get(document.content_type, (OPAQUE, ""))[1]


def store_original(document, data: bytes) -> str:
    """Write `data` as the document's original (not saving the row): the stored name."""
    document.original.save("original", ContentFile(data), save=False)
    return document.original.name


def delete_original(name: str) -> None:
    if name:
        originals.delete(name)


@receiver(post_delete, sender="knowledge.Document")
def _delete_file_with_document(sender, instance, **kwargs):
    """The file goes once the deletion commits; a rolled-back deletion keeps it."""
    name = instance.original.name if instance.original else ""
    if name:
        transaction.on_commit(lambda: delete_original(name))


def orphaned_originals(*, older_than: timedelta) -> list[str]:
    """Files in the storage that no document names, written more than `older_than` ago: left by a worker killed
    between writing a file and committing its document (younger ones may belong to a job about to commit)."""
    from knowledge.models import Document

    try:
        _, names = originals.listdir("")
    except FileNotFoundError:  # nothing was ever kept
        return []
    kept = set(Document.objects.exclude(original="").values_list("original", flat=True))
    cutoff = timezone.now() - older_than
    return sorted(name for name in names if name not in kept and originals.get_modified_time(name) < cutoff)


def download_type(content_type: str) -> str:
    return DOWNLOAD_TYPES.get(content_type, (OPAQUE, ""))[0]


_UNSAFE = re.compile(r'[\\/"\';:*?<>|%]')


def download_filename(document) -> str:
    """The name a download is saved as: the uploaded name (or the title) without control, formatting (RTL
    overrides, zero-width) or path characters, with the extension of the type it is served as."""
    name = next(filter(None, (_clean_name(document.filename), _clean_name(document.title))), "document")
    extension = DOWNLOAD_TYPES.get(document.content_type, (OPAQUE, ""))[1]
    if extension and not name.lower().endswith(extension):
        name = name[:200] + extension
    return name[:255]


def _clean_name(name: str) -> str:
    name = "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn") else " "
                   for ch in name or "")
    return " ".join(_UNSAFE.sub("_", name).split()).strip(". ")


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact one as RFC 5987 `filename*`."""
    fallback = "".join(ch if ch.isascii() and (ch.isalnum() or ch in " ._-()[]") else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
