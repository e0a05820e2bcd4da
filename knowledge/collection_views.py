"""Collections: list the ones you may read, create your own, and (owner or staff) change or delete them."""

from django.db import IntegrityError
from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from knowledge import services
from knowledge.models import Collection
from knowledge.serializers import CollectionSerializer
from ragchat.schema import errors


class CollectionViewSet(viewsets.ModelViewSet):
    """Any signed-in user may create a collection (they own it) and share it with everyone or with groups they
    are in. A collection you may not read is 404; one you may read but not manage is 404 to PATCH and DELETE
    as well, as another user's document is."""

    serializer_class = CollectionSerializer
    queryset = Collection.objects.none()  # for the schema generator's types; get_queryset() is what serves
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return (Collection.objects.readable_by(self.request.user).select_related("owner").prefetch_related("groups")
                .annotate(document_count=Count("documents")).order_by("name"))

    def get_object(self) -> Collection:
        collection = super().get_object()
        if self.action in ("partial_update", "destroy") and not collection.manageable_by(self.request.user):
            raise NotFound()
        return collection

    def perform_create(self, serializer):
        self._saved(serializer, owner=self.request.user)

    def perform_update(self, serializer):
        self._saved(serializer)

    def _saved(self, serializer, **extra) -> None:
        try:
            serializer.save(**extra)
        except IntegrityError as exc:  # the same name, created by another request meanwhile
            raise ValidationError({"name": ["A collection with this name exists already."]}) from exc

    @extend_schema(responses={204: None, **errors(409)})
    def destroy(self, request, *args, **kwargs):
        """Delete an empty collection (409 while it holds documents)."""
        try:
            services.collection_delete(collection=self.get_object())
        except services.CollectionNotEmpty as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)
