from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action

from sessions_app.models import ChatSession
from sessions_app.serializers import ChatSessionSerializer, MessageSerializer


class ChatSessionViewSet(viewsets.ModelViewSet):
    """A user's own chat sessions. Anyone else's are outside the queryset, so they are 404, not 403."""

    serializer_class = ChatSessionSerializer
    queryset = ChatSession.objects.none()  # for the schema generator's types; get_queryset() is what serves
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return (ChatSession.objects.filter(owner=self.request.user)
                .annotate(message_count=Count("messages")).order_by("-updated_at", "-created_at"))

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)

    @extend_schema(responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        """The session's messages, oldest first, a page at a time."""
        session = self.get_object()
        page = self.paginate_queryset(session.messages.all())
        return self.get_paginated_response(MessageSerializer(page, many=True).data)
