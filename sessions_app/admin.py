from django.contrib import admin
from django.contrib.admin.utils import build_q_object_from_lookup_parameters
from django.core.exceptions import FieldError, ValidationError
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from sessions_app.feedback_export import csv_lines
from sessions_app.models import ApiUsage, ChatSession, Feedback, Message, TokenUsage
from sessions_app.usage import usage_by_day_and_user, usage_by_user

USAGE_ROWS = 500  # rows of the per-day table; narrow the dates to see further back


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "role", "status", "content", "model", "error", "rating"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("feedback")

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="feedback")
    def rating(self, message: Message) -> str:
        return "; ".join(f"{f.rating}{': ' + f.comment if f.comment else ''}" for f in message.feedback.all())


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "pinned", "archived", "created_at", "updated_at"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username", "owner__email"]
    list_filter = ["created_at", "pinned", "archived"]
    readonly_fields = ["id", "created_at", "updated_at"]
    raw_id_fields = ["scope_collections", "scope_documents"]  # ids: a select of every document would not scale
    inlines = [MessageInline]


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    """Ratings of answers, newest first: filter by rating, date and model; search comments, users, answers."""

    list_display = ["updated_at", "user", "thumb", "comment_start", "answer_start", "answer_model", "chat"]
    list_filter = ["rating", "updated_at", "message__model"]
    search_fields = ["comment", "user__username", "message__content"]
    list_select_related = ["user", "message", "message__session"]
    date_hierarchy = "updated_at"
    fields = ["user", "rating", "comment", "created_at", "updated_at", "answer", "chat"]
    readonly_fields = fields
    actions = ["export_csv"]

    @admin.display(description="rating", ordering="rating")
    def thumb(self, feedback: Feedback) -> str:
        return "👍 up" if feedback.rating == Feedback.Rating.UP else "👎 down"

    @admin.display(description="comment")
    def comment_start(self, feedback: Feedback) -> str:
        return _start(feedback.comment, 80)

    @admin.display(description="answer")
    def answer_start(self, feedback: Feedback) -> str:
        return _start(feedback.message.content, 80)

    @admin.display(description="answer")
    def answer(self, feedback: Feedback) -> str:
        return feedback.message.content

    @admin.display(description="model", ordering="message__model")
    def answer_model(self, feedback: Feedback) -> str:
        return feedback.message.model

    @admin.display(description="chat")
    def chat(self, feedback: Feedback) -> str:
        session = feedback.message.session
        url = reverse("admin:sessions_app_chatsession_change", args=[session.pk])
        return format_html('<a href="{}">{}</a>', url, session.name)

    @admin.action(description="Export selected feedback as CSV")
    def export_csv(self, request, queryset):
        response = StreamingHttpResponse(csv_lines(queryset), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="ragchat-feedback-{stamp}.csv"'
        return response


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnlyAdmin):
    """Tokens per user and per day, from Message.usage and ApiUsage (the /v1 API's calls); the filters narrow the
    messages and the calls that are summed."""

    change_list_template = "admin/sessions_app/tokenusage/change_list.html"
    date_hierarchy = "created_at"
    list_filter = ["created_at", "model"]
    search_fields = ["session__owner__username"]
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is None:  # a redirect, after a filter the admin refused
            return response
        messages = changelist.queryset.order_by()
        calls = _api_calls(request, changelist)
        response.context_data.update({
            "by_user": usage_by_user(messages, calls),
            "by_day": usage_by_day_and_user(messages, calls, limit=USAGE_ROWS),
            "day_rows_limit": USAGE_ROWS,
        })
        return response


def _api_calls(request, changelist) -> QuerySet:
    """The API calls the change list's filters select: the same dates, model and user search as its messages
    (ApiUsage names those fields alike). A filter on something only messages have (role=...) selects none."""
    filters, _, remaining, _, _ = changelist.get_filters(request)
    calls = ApiUsage.objects.order_by()
    try:
        for spec in filters:
            narrowed = spec.queryset(request, calls)
            calls = calls if narrowed is None else narrowed
        calls = calls.filter(build_q_object_from_lookup_parameters(remaining))
    except (FieldError, ValueError, ValidationError):
        return ApiUsage.objects.none()
    if changelist.query:
        calls = calls.filter(user__username__icontains=changelist.query)
    return calls


def _start(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"
