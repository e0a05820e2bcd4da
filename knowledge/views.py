import threading

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from knowledge import services
from knowledge.errors import (
    DocumentTooLarge,
    DuplicateDocument,
    EmbeddingFailed,
    EmptyDocument,
    ExtractionFailed,
    IngestError,
    UnsupportedType,
)
from knowledge.models import Document
from knowledge.originals import DOWNLOAD_TYPES, content_disposition, download_filename, download_type, originals
from knowledge.parsers import UploadParser
from knowledge.processing import document_process
from knowledge.reading import NotReadable, PassageNotFound, text_window
from knowledge.serializers import (
    ChunkSerializer,
    DocumentChangeSerializer,
    DocumentListQuerySerializer,
    DocumentSerializer,
    DocumentUploadSerializer,
    TextWindowQuerySerializer,
    TextWindowSerializer,
    upload_schema,
)
from knowledge.vectors import chunks_with_vectors
from ragchat.parsers import JSONParser
from ragchat.schema import errors
from ragchat.throttles import rate

# Room for the multipart envelope and a title around a file of DOCUMENT_MAX_BYTES.
_MULTIPART_SLACK = 64 * 1024
# What each reason for refusing a document answers. Anything else that stops a job is "unprocessable".
STATUS_OF = {
    DocumentTooLarge: 413, UnsupportedType: 415, EmptyDocument: 400, DuplicateDocument: 409,
    services.NotRetryable: 409, ExtractionFailed: 422, EmbeddingFailed: 502,
}
DOWNLOAD = "The uploaded file, as an attachment (Content-Disposition), typed by what it was read as."
ORIGINAL_RESPONSES = {(200, media): OpenApiResponse(OpenApiTypes.BINARY, description=DOWNLOAD)
                      for media in sorted({served for served, _ in DOWNLOAD_TYPES.values()})}
# A download is never shown by the browser as a page: nothing in it may run, even if it were.
DOWNLOAD_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                    "Cache-Control": "private, no-cache"}
WAIT = OpenApiParameter("wait", OpenApiTypes.BOOL, description="Wait for the job: 201 ready, or its failure.")
HIDDEN_DUPLICATE = "This document was already uploaded, to a collection you cannot read."


# Jobs a web process runs itself for `wait`, at once: more concurrent `wait` uploads go through the queue and
# wait for a worker, so that no number of them turns the web server into a pool of parsers.
_inline_jobs = threading.BoundedSemaphore(1)


def _status_of(error: IngestError) -> int:
    return next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 422)


def _wait(request, body_value=None) -> bool:
    """`wait` from the query (?wait=true|false|1|0) or the body (already parsed by the serializer): anything
    else is a 400, as the schema says, rather than quietly read as "no"."""
    value = request.query_params.get("wait")
    if value is None:
        return bool(body_value)
    flag = {"true": True, "1": True, "false": False, "0": False}.get(value.lower())
    if flag is None:
        raise ValidationError({"wait": ["Must be true or false."]})
    return flag or bool(body_value)


@extend_schema_view(list=extend_schema(parameters=[DocumentListQuerySerializer]))
class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The documents of the collections you may read (any other is 404); the uploader, the collection's owner
    or staff may delete, retry or move one (for anyone else it is 404 too, as another user's data is)."""

    serializer_class = DocumentSerializer
    parser_classes = [UploadParser, JSONParser]

    def get_queryset(self):
        documents = (Document.objects.readable_by(self.request.user).select_related("uploaded_by", "collection")
                     .defer("text", "page_starts"))
        if self.action == "list":
            query = DocumentListQuerySerializer(data=self.request.query_params, context={"user": self.request.user})
            query.is_valid(raise_exception=True)
            if query.validated_data.get("collection") is not None:
                documents = documents.filter(collection=query.validated_data["collection"])
        return documents

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "user": self.request.user}

    def get_managed(self) -> Document:
        """The document, if you may change it; 404 otherwise (even when you may read it)."""
        document = self.get_object()
        if not document.deletable_by(self.request.user):
            raise NotFound()
        return document

    def get_throttles(self):
        return [rate("uploads")()] if self.action in ("create", "retry") else []

    @extend_schema(request=upload_schema(), parameters=[WAIT],
                   responses={202: DocumentSerializer, 201: DocumentSerializer, **errors(409, 422, 502)})
    def create(self, request):
        """Upload a file (multipart `file`) or text (JSON `content`): 202 with the document `pending`, read,
        chunked and embedded by a worker. The cheap refusals come at once: 413, 400 (empty), 415, 409."""
        # Refuse an oversized body from its Content-Length, before reading or parsing any of it.
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.DOCUMENT_MAX_BYTES + _MULTIPART_SLACK:
            return self._refusal(services.too_large())
        form = request.content_type != "application/json"
        upload = DocumentUploadSerializer(data=request.data, context={"form": form, "user": request.user})
        upload.is_valid(raise_exception=True)
        wait = _wait(request, upload.validated_data["wait"])
        source = {"title": upload.validated_data.get("title", ""), "user": request.user,
                  "collection": upload.validated_data.get("collection")}
        file = upload.validated_data.get("file")
        try:
            if file is not None:
                if file.size > settings.DOCUMENT_MAX_BYTES:
                    return self._refusal(services.too_large())
                source.update(data=file.read(), filename=file.name or "")
            else:
                source.update(text=upload.validated_data["content"])
            if wait and _inline_jobs.acquire(blocking=False):
                try:
                    return Response(self._data(services.document_ingest(**source)), status=status.HTTP_201_CREATED)
                finally:
                    _inline_jobs.release()
            document = services.document_submit(**source)
            if wait:
                document = services.document_wait(document=document, timeout=settings.INGEST_WAIT_SECONDS)
                if document.status == Document.Status.READY:
                    return Response(self._data(document), status=status.HTTP_201_CREATED)
        except IngestError as exc:
            return self._refusal(exc)
        return Response(self._data(document), status=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/api/documents/{document.pk}"})

    def destroy(self, request, pk=None):
        """Delete a document; a pending or processing one is cancelled (its job stops within seconds)."""
        services.document_delete(document=self.get_managed())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=DocumentChangeSerializer, responses=DocumentSerializer)
    def partial_update(self, request, pk=None):
        """Move the document to another collection you may read (its uploader, the collection's owner, staff)."""
        document = self.get_managed()
        change = DocumentChangeSerializer(data=request.data, context={"user": request.user})
        change.is_valid(raise_exception=True)
        document = services.document_move(document=document, collection=change.validated_data["collection"])
        return Response(self._data(document))

    @extend_schema(request=None, parameters=[WAIT],
                   responses={202: DocumentSerializer, 201: DocumentSerializer, **errors(409, 422, 502)})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Queue a failed document again (202), or with `wait` process it now (201 ready, or the failure)."""
        document = self.get_managed()
        wait = _wait(request)
        try:
            if wait and _inline_jobs.acquire(blocking=False):
                try:
                    document = services.document_retry(document=document, enqueue=False)
                    done = document_process(document_id=document.pk, raise_failure=True)
                    return Response(self._data(done or document), status=status.HTTP_201_CREATED)
                finally:
                    _inline_jobs.release()
            document = services.document_retry(document=document)
            if wait:
                document = services.document_wait(document=document, timeout=settings.INGEST_WAIT_SECONDS)
                if document.status == Document.Status.READY:
                    return Response(self._data(document), status=status.HTTP_201_CREATED)
        except IngestError as exc:
            return self._refusal(exc)
        return Response(self._data(document), status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ChunkSerializer(many=True))
    @action(detail=True, methods=["get"])
    def chunks(self, request, pk=None):
        document = self.get_object()
        page = self.paginate_queryset(chunks_with_vectors(document))
        return self.get_paginated_response(ChunkSerializer(page, many=True).data)

    @extend_schema(parameters=[TextWindowQuerySerializer], responses={200: TextWindowSerializer, **errors(400, 409)})
    @action(detail=True, methods=["get"])
    def text(self, request, pk=None):
        """The reader's window of the document's extracted text around a cited chunk (`chunk`) or from a position,
        with the chunks and (PDFs) pages in it. 404: no such chunk here; 409: the document is not ready."""
        document = self.get_object()
        query = TextWindowQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            window = text_window(document=document, chunk_id=query.validated_data.get("chunk"),
                                 position=query.validated_data.get("position"), count=query.validated_data["count"])
        except PassageNotFound as exc:
            raise NotFound(str(exc)) from None
        except NotReadable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(TextWindowSerializer(window, context=self.get_serializer_context()).data)

    @extend_schema(responses=ORIGINAL_RESPONSES)
    @action(detail=True, methods=["get"])
    def original(self, request, pk=None):
        """Download the uploaded file (kept once the document is ready). 404: not readable by you, sent as text,
        or its file is gone."""
        document = self.get_object()
        if not document.original:
            raise NotFound("This document has no original file: it was sent as text, or is not ready yet.")
        try:
            handle = originals.open(document.original.name, "rb")
        except (FileNotFoundError, OSError):
            raise NotFound("The original file of this document is missing from storage.") from None
        response = FileResponse(handle, content_type=download_type(document.content_type))
        response["Content-Disposition"] = content_disposition(download_filename(document))
        for header, value in DOWNLOAD_HEADERS.items():
            response[header] = value
        return response

    def perform_content_negotiation(self, request, force=False):
        # A download answers with its own type; its errors, like every other, are JSON whatever was accepted.
        if self.action == "original":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    def _refusal(self, error: IngestError) -> Response:
        body = {"detail": str(error)}
        shown = getattr(error, "existing", None) or getattr(error, "document", None)
        if shown is not None and Document.objects.readable_by(self.request.user).filter(pk=shown.pk).exists():
            body["document"] = self._data(shown)
        elif shown is not None:  # the same bytes in a collection you may not read: say so, without naming it
            body["detail"] = HIDDEN_DUPLICATE
        return Response(body, status=_status_of(error))

    def _data(self, document: Document) -> dict:
        return DocumentSerializer(document, context=self.get_serializer_context()).data
