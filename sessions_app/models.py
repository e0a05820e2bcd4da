import uuid

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

DEFAULT_SESSION_NAME = "New chat"


class ChatSessionQuerySet(models.QuerySet):
    def search(self, words: str) -> "ChatSessionQuerySet":
        """Chats whose name or any message holds `words` (case-insensitive), each with the content of its first
        such message as `match_content` (None when only the name matches)."""
        matching = Message.objects.filter(session=OuterRef("pk"), content__icontains=words)
        first = matching.order_by("created_at", "id").values("content")[:1]
        return self.filter(Q(name__icontains=words) | Exists(matching)).annotate(match_content=Subquery(first))

    def recount(self) -> int:
        """Set these chats' message_count and has_scope from their messages and scope, e.g. after messages were
        written in bulk (bulk_create and queryset deletes pass by Message.save and delete)."""
        counted = Message.objects.filter(session=OuterRef("pk")).order_by().values("session").annotate(
            n=Count("id")).values("n")
        return self.update(message_count=Coalesce(Subquery(counted), 0), has_scope=_has_scope(OuterRef("pk")))

    def add_messages(self, n: int) -> None:
        """Count `n` more (or, negative, fewer) messages on these chats: one UPDATE, safe beside others. Never
        below 0 (a count left short by rows written in bulk without `recount`)."""
        self.update(message_count=Greatest(F("message_count") + n, Value(0)))


class ChatSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sessions")
    name = models.CharField(max_length=200, default=DEFAULT_SESSION_NAME)
    pinned = models.BooleanField(default=False)  # listed above the other chats
    archived = models.BooleanField(default=False)  # hidden from the main list, kept with its messages
    # When the user last asked the answer streaming in this chat to stop (chat/stopping.py).
    stop_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What this chat's retrieval looks inside: these collections and documents (none: everything the owner may
    # read). Always intersected with what the owner may read at the time of the question (knowledge/scope.py).
    scope_collections = models.ManyToManyField("knowledge.Collection", blank=True, related_name="+")
    scope_documents = models.ManyToManyField("knowledge.Document", blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)  # the last activity: a question or an answer
    # Kept on the chat's own row, so that a page of the list reads its 50 rows and nothing else: counting each
    # chat's messages and looking for its scope took most of the database's time for a page, and grew with the
    # chats' length (sessions_app/listing.py). Message.save and delete keep the count (as does retiring replaced
    # answers); changing the scope keeps the flag (receivers below). A flag left True by items deleted with
    # their collection or document only costs a lookup that finds nothing to show.
    message_count = models.IntegerField(default=0, editable=False)  # signed: MySQL's unsigned 0 + -1 fails
    has_scope = models.BooleanField(default=False, editable=False)

    objects = ChatSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-pinned", "-updated_at", "-created_at"]
        # A page of the list straight from the index, in `ordering`: no sort of all of a user's chats per page.
        indexes = [models.Index(fields=["owner", "archived", "-pinned", "-updated_at", "-created_at"],
                                name="session_page_idx")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        """Saving a chat that exists writes every field but the kept counts: an instance read before a message
        was added (a form, a request's copy) would put its stale count back."""
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [field.name for field in self._meta.concrete_fields
                                       if not field.primary_key and field.name not in KEPT_ON_THE_ROW]
        super().save(*args, **kwargs)


KEPT_ON_THE_ROW = ("message_count", "has_scope")  # written by their own UPDATEs only (ChatSession.save)


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    class Status(models.TextChoices):
        COMPLETE = "complete"
        STREAMING = "streaming"
        FAILED = "failed"  # the provider failed or the client went away; `error` says why, `content` is partial
        STOPPED = "stopped"  # the user stopped the answer while it streamed; `content` is what had arrived

    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)  # longtext on MySQL
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # Citations, numbered as the answer cites them: [{n, document_id, document_title, chunk_id, score, snippet, page}]
    sources = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=200, blank=True)
    # {"prompt_tokens": n, "completion_tokens": n}. On an answer: what it cost. On a question: what else was
    # spent on it (rewriting it as a search query, answers that were regenerated away).
    usage = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # A follow-up question as the model rewrote it to search the knowledge base, kept so that a regenerated
    # answer does not pay for the rewrite again. Empty: the question was searched without a rewrite.
    rewritten_query = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # A chat's messages in order, straight from the index: no sort, and no plan that walks the
            # created_at index over every chat's messages to find one chat's (MariaDB with fresh statistics).
            models.Index(fields=["session", "created_at", "id"], name="message_session_order_idx"),
            models.Index(fields=["created_at"], name="message_created_idx"),  # the usage report's date range
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    def save(self, *args, **kwargs):
        """A new message counts on its chat's row (ChatSession.message_count), in the same transaction."""
        if not self._state.adding:
            return super().save(*args, **kwargs)
        with transaction.atomic():
            # The chat's row first, as chat.services._save_answer does: taking the foreign key's shared lock
            # first, then the row's, deadlocks beside another message of the chat on MariaDB.
            ChatSession.objects.filter(pk=self.session_id).add_messages(1)
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        """A deleted message no longer counts; one that another request deleted first was never counted twice."""
        with transaction.atomic():
            chat = ChatSession.objects.filter(pk=self.session_id)
            chat.add_messages(-1)  # the chat's row first, as in save()
            deleted, by_model = super().delete(*args, **kwargs)
            if not by_model.get(Message._meta.label):  # this copy's row was gone already
                chat.add_messages(1)
            return deleted, by_model


def _has_scope(chat) -> Exists:
    """Whether the chat `chat` (a pk or an OuterRef) has any scope item."""
    through = (ChatSession.scope_collections.through, ChatSession.scope_documents.through)
    return Exists(through[0].objects.filter(chatsession=chat)) | Exists(through[1].objects.filter(chatsession=chat))


@receiver(m2m_changed, sender=ChatSession.scope_collections.through)
@receiver(m2m_changed, sender=ChatSession.scope_documents.through)
def _keep_has_scope(sender, instance, action, reverse, **kwargs):
    """A chat's scope changed (through its manager: the API, the admin): set its has_scope again."""
    if action in ("post_add", "post_remove", "post_clear"):
        chats = ChatSession.objects.filter(pk__in=kwargs["pk_set"] or ()) if reverse else \
            ChatSession.objects.filter(pk=instance.pk)
        chats.update(has_scope=_has_scope(OuterRef("pk")))


class Feedback(models.Model):
    """A user's rating of an answer, up or down, with an optional comment: one per user and answer."""

    class Rating(models.TextChoices):
        UP = "up"
        DOWN = "down"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = "feedback"
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="one_feedback_per_user_and_message")]

    def __str__(self) -> str:
        return f"{self.rating} by {self.user} on message {self.message_id}"


class TokenUsage(Message):
    """Messages seen as spending: the admin's report of tokens per user and per day (sessions_app/admin.py)."""

    class Meta:
        proxy = True
        verbose_name = "token usage"
        verbose_name_plural = "token usage"


class ApiUsage(models.Model):
    """What one call of the OpenAI-format API (/v1/chat/completions) cost. Such calls keep no chat session (the
    client holds the conversation), so their tokens are recorded here for the usage report."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_usage")
    requested = models.CharField(max_length=200)  # the ragchat model the client asked for: "ragchat", ...
    model = models.CharField(max_length=200, blank=True)  # the language model that answered, as on Message
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    failed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API usage"
        verbose_name_plural = "API usage"
        indexes = [models.Index(fields=["created_at"], name="api_usage_created_idx")]

    def __str__(self) -> str:
        return f"{self.user} via {self.requested}: {self.prompt_tokens}+{self.completion_tokens} tokens"
