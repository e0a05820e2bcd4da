"""Why a document could not be ingested. `str(error)` is what the user reads; the API maps each kind to an
HTTP status (knowledge/views.py), and a job records it as the document's `error`."""


class IngestError(Exception):
    """A document could not be ingested."""


class UnsupportedType(IngestError):
    """Not a type we read (by name and by bytes)."""


class EmptyDocument(IngestError):
    """No text in it."""


class DocumentTooLarge(IngestError):
    """Over DOCUMENT_MAX_BYTES."""


class ExtractionFailed(IngestError):
    """The file claims a supported type but cannot be read: corrupt, encrypted, a zip bomb, over a limit."""


class EmbeddingFailed(IngestError):
    """The embedding service failed."""


class DuplicateDocument(IngestError):
    """The same bytes are in the knowledge base already, as `existing`."""

    def __init__(self, existing):
        super().__init__(f"This document was already uploaded as “{existing.title}”.")
        self.existing = existing
