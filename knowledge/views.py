from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from knowledge import services
from knowledge.models import Document
from knowledge.serializers import ChunkSerializer, DocumentSerializer, DocumentUploadSerializer, can_delete
from knowledge.vectors import chunks_with_vectors

# Room for the multipart envelope and a title around a file of DOCUMENT_MAX_BYTES.
_MULTIPART_SLACK = 64 * 1024


def _too_large() -> Response:
    refusal = services.too_large()
    return Response({"detail": str(refusal)}, status=refusal.http_status)


class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The shared knowledge base: every signed-in user sees every document; the uploader or staff may delete."""

    serializer_class = DocumentSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return Document.objects.select_related("uploaded_by").defer("text", "page_starts")

    @extend_schema(request=DocumentUploadSerializer, responses={201: DocumentSerializer})
    def create(self, request):
        # Refuse an oversized body from its Content-Length, before reading or parsing any of it.
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.DOCUMENT_MAX_BYTES + _MULTIPART_SLACK:
            return _too_large()
        upload = DocumentUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        title = upload.validated_data.get("title", "")
        file = upload.validated_data.get("file")
        try:
            if file is not None:
                if file.size > settings.DOCUMENT_MAX_BYTES:
                    return _too_large()
                document = services.document_ingest(data=file.read(), filename=file.name or "", title=title,
                                                    user=request.user)
            else:
                document = services.document_ingest(text=upload.validated_data["content"], title=title,
                                                    user=request.user)
        except services.DuplicateDocument as exc:
            return Response({"detail": str(exc), "document": self._data(exc.existing)}, status=exc.http_status)
        except services.IngestError as exc:
            return Response({"detail": str(exc)}, status=exc.http_status)
        return Response(self._data(document), status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        document = self.get_object()
        if not can_delete(request.user, document):
            raise NotFound()  # someone else's document: 404, never 403
        services.document_delete(document=document)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=ChunkSerializer(many=True))
    @action(detail=True, methods=["get"])
    def chunks(self, request, pk=None):
        document = self.get_object()
        page = self.paginate_queryset(chunks_with_vectors(document))
        return self.get_paginated_response(ChunkSerializer(page, many=True).data)

    def _data(self, document: Document) -> dict:
        return DocumentSerializer(document, context=self.get_serializer_context()).data
