"""A user's chat sessions (list, search, pin, archive, rename, delete, export) and feedback on answers."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge.models import Document
from ragchat.db import retrying_deadlocks
from ragchat.schema import errors
from ragchat.throttles import rate
from sessions_app.export import chat_markdown, export_filename
from sessions_app.listing import ChatList
from sessions_app.models import ChatSession, Feedback, Message
from sessions_app.serializers import (
    ChatExportSerializer,
    ChatSessionSerializer,
    FeedbackSerializer,
    MessageSerializer,
    SessionListQuerySerializer,
    text_pattern,
)

EXPORT_TYPES = {"markdown": ("md", "text/markdown; charset=utf-8"), "json": ("json", "application/json")}


def without_lost_sources(messages, user) -> list:
    """The messages, their sources cut to the documents `user` may read now: an answer given before its reader
    left a group keeps its text, but no longer links to or quotes that group's documents."""
    messages = list(messages)
    cited = {s.get("document_id") for m in messages for s in m.sources if isinstance(s, dict)} - {None}
    if not cited:
        return messages
    lost = set(Document.objects.filter(pk__in=cited).exclude(pk__in=Document.objects.readable_by(user))
               .values_list("pk", flat=True))
    for message in messages:
        message.sources = [s for s in message.sources if not (isinstance(s, dict) and s.get("document_id") in lost)]
    return messages


def with_reader_feedback(messages, user):
    """Messages with the reader's own rating prefetched, as MessageSerializer shows it."""
    mine = Feedback.objects.filter(user=user)
    return messages.prefetch_related(Prefetch("feedback", queryset=mine, to_attr="reader_feedback"))


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("search", str, pattern=text_pattern(allow_blank=True),  # no NUL (400)
                     description="Only chats whose name or messages hold these words "
                                 "(case-insensitive, at most 200 characters)."),
    OpenApiParameter("archived", bool, description="true: the archived chats; false (default): the others."),
]))
class ChatSessionViewSet(viewsets.ModelViewSet):
    """A user's own chat sessions, pinned first, then the latest activity first. Anyone else's are outside the
    queryset, so they are 404, not 403."""

    serializer_class = ChatSessionSerializer
    queryset = ChatSession.objects.none()  # for the schema generator's types; get_queryset() is what serves
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_throttles(self):
        # A search reads every message of the user's chats (LIKE): it counts against the search limit.
        searching = self.action == "list" and self.list_query()["search"]
        return [rate("search")()] if searching else []

    def get_queryset(self):
        # A chat's message_count and has_scope are kept on its row (sessions_app/models.py).
        scoped = Prefetch("scope_documents", queryset=Document.objects.only("id", "title", "collection"))
        sessions = ChatSession.objects.filter(owner=self.request.user)
        if self.action in ("retrieve", "partial_update", "update"):  # the list reads a page's scopes itself
            sessions = sessions.prefetch_related("scope_collections", scoped)
        if self.action == "list":
            query = self.list_query()
            sessions = sessions.filter(archived=query["archived"])
            if query["search"]:
                sessions = sessions.search(query["search"])
        return sessions.order_by("-pinned", "-updated_at", "-created_at")

    def list_query(self) -> dict:
        """?search= and ?archived=, validated once per request (the throttles, the queryset and the
        serializer all ask)."""
        if not hasattr(self, "_list_query"):
            query = SessionListQuerySerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            self._list_query = query.validated_data
        return self._list_query

    def get_serializer_context(self):
        search = self.list_query()["search"] if self.action == "list" else ""
        return {**super().get_serializer_context(), "search": search}

    def list(self, request, *args, **kwargs):
        # A page of plain rows (ChatSessionSerializer.list_items) rather than a model instance per chat.
        query = self.list_query()
        fields = ChatSessionSerializer.stored_fields()
        if query["search"]:
            chats = self.get_queryset().values(*fields, "message_count", "has_scope", "match_content")
        else:  # the plain list, on every page load: one hand-written query (sessions_app/listing.py)
            chats = ChatList(request.user, archived=query["archived"], fields=fields, expected=self._page_asked())
        page = self.paginate_queryset(chats)
        return self.get_paginated_response(self.get_serializer().list_items(page, written=not query["search"]))

    def _page_asked(self) -> slice | None:
        """The rows of the page that ?page= (a number) asks for; None for ?page=last or a page that is no number
        (the paginator answers those)."""
        number = self.request.query_params.get(self.paginator.page_query_param, "1")
        if not (number.isascii() and number.isdigit()) or not 0 < int(number) < 10**6:
            return None
        size = self.paginator.get_page_size(self.request)
        return slice((int(number) - 1) * size, int(number) * size)

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)

    def perform_destroy(self, instance):
        def delete():
            with transaction.atomic():
                # The chat's row first, then its messages: a question saved at the same moment waits for the
                # delete and then finds the chat gone (404), instead of slipping in between the two.
                ChatSession.objects.select_for_update().filter(pk=instance.pk).exists()
                instance.delete()

        retrying_deadlocks(delete)

    @extend_schema(responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        """The session's messages, oldest first, a page at a time."""
        session = self.get_object()
        page = self.paginate_queryset(with_reader_feedback(session.messages.all(), request.user))
        page = without_lost_sources(page, request.user)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("as", str, enum=sorted(EXPORT_TYPES), description="markdown (default) or json")],
        responses={(200, "text/markdown"): OpenApiTypes.STR,
                   (200, "application/json"): ChatExportSerializer, **errors(400)})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """The whole chat as a file to download: Markdown to read, or JSON with every message as the API shows it."""
        kind = request.query_params.get("as", "markdown")
        if kind not in EXPORT_TYPES:
            raise ValidationError({"as": ['Choose "markdown" or "json".']})
        session = self.get_object()
        messages = without_lost_sources(with_reader_feedback(session.messages.all(), request.user), request.user)
        now = timezone.now()
        extension, content_type = EXPORT_TYPES[kind]
        if kind == "json":
            data = ChatExportSerializer({"session": session, "messages": messages, "exported_at": now}).data
            body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
        else:
            body = chat_markdown(session, messages, exported_at=now)
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = content_disposition_header(True, export_filename(session, extension))
        return response

    def perform_content_negotiation(self, request, force=False):
        if self.action == "export":  # a file, whatever the client accepts; errors stay JSON
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)


class FeedbackView(APIView):
    """Your rating of an answer: PUT sets or changes it (one per user and answer), DELETE takes it back."""

    def answer(self, request, pk) -> Message:
        # Only answers have a rating: a question's id, like another user's answer, names nothing here (404).
        return get_object_or_404(Message, pk=pk, session__owner=request.user, role=Message.Role.ASSISTANT)

    @extend_schema(request=FeedbackSerializer, responses=FeedbackSerializer)
    def put(self, request, pk):
        message = self.answer(request, pk)
        serializer = FeedbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback, _ = Feedback.objects.update_or_create(message=message, user=request.user,
                                                        defaults=serializer.validated_data)
        return Response(FeedbackSerializer(feedback).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        Feedback.objects.filter(message=self.answer(request, pk), user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
