"""The bytes of an uploaded file, between the upload request and the job that reads them.

They live in the database (UploadPart rows of at most 1 MB), not on a disk: the web server and the workers
may run on different hosts, and a document is created together with its bytes in one transaction, so no
pending document ever lacks them. They are dropped once the document is ready; a failed document keeps
them, so that it can be retried.
"""

from knowledge.models import Document, UploadPart

PART_BYTES = 1024 * 1024
# Parts per INSERT: escaped, a part can double in size, and a statement must stay under max_allowed_packet.
PARTS_PER_INSERT = 4


def store_upload(document: Document, data: bytes) -> None:
    UploadPart.objects.bulk_create(
        [UploadPart(document=document, position=n, data=data[start:start + PART_BYTES])
         for n, start in enumerate(range(0, len(data), PART_BYTES))],
        batch_size=PARTS_PER_INSERT,
    )


def read_upload(document: Document) -> bytes | None:
    """The uploaded bytes, or None when none are kept (raw text, or a document that was ready once)."""
    parts = list(UploadPart.objects.filter(document=document).order_by("position").values_list("data", flat=True))
    return b"".join(bytes(part) for part in parts) if parts else None


def has_upload(document: Document) -> bool:
    return UploadPart.objects.filter(document=document).exists()


def discard_upload(document: Document) -> None:
    UploadPart.objects.filter(document=document).delete()
