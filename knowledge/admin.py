from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat, pluralize
from django.urls import reverse
from django.utils.html import format_html

from knowledge import services
from knowledge.extraction import SUPPORTED_EXTENSIONS
from knowledge.models import Chunk, Collection, Document


class DocumentUploadForm(forms.ModelForm):
    """The admin's add form: a file, queued when the form is saved. The cheap refusals (too large, empty,
    unsupported, duplicate) show on the form; reading it is the worker's, and its outcome shows in the list."""

    file = forms.FileField(help_text=f"Supported: {', '.join(SUPPORTED_EXTENSIONS)}.")
    title = forms.CharField(max_length=300, required=False, help_text="Defaults to the file name.")
    collection = forms.ModelChoiceField(Collection.objects.all(), required=False,
                                        help_text="Defaults to the default collection.")

    class Meta:
        model = Document
        fields = ["title", "collection"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is None or self.errors:
            return cleaned
        if upload.size > settings.DOCUMENT_MAX_BYTES:
            raise forms.ValidationError(str(services.too_large()))
        try:
            document = services.document_submit(
                data=upload.read(), filename=upload.name or "", title=cleaned.get("title", ""),
                user=self.request.user if self.request else None, collection=cleaned.get("collection"),
            )
        except services.DuplicateDocument as exc:
            raise forms.ValidationError(f"{exc} (document #{exc.existing.pk}).") from exc
        except services.IngestError as exc:
            raise forms.ValidationError(str(exc)) from exc
        # The service saved the document; the admin's own save step then only re-saves it.
        self.instance = document
        cleaned["title"] = document.title
        return cleaned


class MoveForm(forms.Form):
    collection = forms.ModelChoiceField(Collection.objects.all(), help_text="The collection to move them to.")


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    """Who reads what: a collection is read by everyone signed in, or by the members of its groups."""

    list_display = ["name", "visibility", "group_names", "owner", "documents_link", "created_at"]
    list_filter = ["visibility", "groups"]
    search_fields = ["name", "description"]
    filter_horizontal = ["groups"]
    list_select_related = ["owner"]
    fields = ["name", "description", "visibility", "groups", "owner", "created_at"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups").annotate(document_count=Count("documents"))

    def delete_model(self, request, obj):
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset):
        # The admin already refuses a collection that holds documents (PROTECT); this covers one filled meanwhile.
        for collection in queryset:
            try:
                services.collection_delete(collection=collection)
            except services.CollectionNotEmpty as exc:
                self.message_user(request, f"Not deleted: {collection}: {exc}", messages.ERROR)

    @admin.display(description="groups")
    def group_names(self, collection: Collection) -> str:
        if collection.visibility == Collection.Visibility.EVERYONE:
            return "—"
        return ", ".join(g.name for g in collection.groups.all()) or "(owner only)"

    @admin.display(description="documents", ordering="document_count")
    def documents_link(self, collection: Collection) -> str:
        url = reverse("admin:knowledge_document_changelist") + f"?collection__id__exact={collection.pk}"
        return format_html('<a href="{}">{}</a>', url, collection.document_count)


class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "collection", "status", "progress", "human_size", "chunk_count", "uploaded_by",
                    "content_type", "created_at"]
    list_filter = ["collection", "status", "content_type"]
    search_fields = ["title", "filename", "source_path"]
    list_select_related = ["uploaded_by", "collection"]
    actions = ["move", "retry", "reembed"]
    readonly_fields = ["filename", "source_path", "content_type", "human_size", "sha256", "status", "progress",
                       "error", "attempts", "heartbeat_at", "chunk_count", "chunk_link", "original_link", "uploaded_by",
                       "created_at", "updated_at", "text_preview"]
    fields = ["title", "collection", *readonly_fields]

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).defer("text", "page_starts")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            form = super().get_form(request, obj, change=change, **{**kwargs, "form": DocumentUploadForm})

            class RequestBoundForm(form):
                def __init__(self, *args, **kw):
                    super().__init__(*args, request=request, **kw)

            return RequestBoundForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["file", "title", "collection"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # a title edit; bumps updated_at for the index
        # On add, DocumentUploadForm.clean() has already queued and saved the document.

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, f"“{obj.title}” is queued: a worker reads and embeds it; its status shows "
                                   "in the list.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:knowledge_document_changelist"))

    def get_deleted_objects(self, objs, request):
        # Chunks are read-only in the admin, yet they go with their document: not a missing permission.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, perms_needed - {Chunk._meta.verbose_name}, protected

    def delete_queryset(self, request, queryset):
        for document in queryset:
            services.document_delete(document=document)

    def delete_model(self, request, obj):
        services.document_delete(document=obj)

    @admin.display(description="progress")
    def progress(self, document: Document) -> str:
        if document.status == Document.Status.FAILED:
            return document.error
        return document.progress_text or "—"

    @admin.display(description="size", ordering="size")
    def human_size(self, document: Document) -> str:
        return filesizeformat(document.size)

    @admin.display(description="chunks")
    def chunk_link(self, document: Document) -> str:
        url = reverse("admin:knowledge_chunk_changelist") + f"?document__id__exact={document.pk}"
        return format_html('<a href="{}">{} chunk{}</a>', url, document.chunk_count, pluralize(document.chunk_count))

    @admin.display(description="original file")
    def original_link(self, document: Document) -> str:
        if not document.original:
            return "— (sent as text, not ready yet, or uploaded before originals were kept)"
        return format_html('<a href="{}">Download {}</a>', reverse("document-original", args=[document.pk]),
                           document.filename or "the original")

    @admin.display(description="extracted text (start)")
    def text_preview(self, document: Document) -> str:
        text = Document.objects.filter(pk=document.pk).values_list("text", flat=True).first() or ""
        return text[:2000] + ("…" if len(text) > 2000 else "")

    @admin.action(description="Move selected documents to a collection")
    def move(self, request, queryset):
        """A form asking for the collection; posted back with it, the documents move."""
        form = MoveForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            collection = form.cleaned_data["collection"]
            for document in queryset:
                services.document_move(document=document, collection=collection)
            self.message_user(request, f"Moved {len(queryset)} document(s) to “{collection}”.", messages.SUCCESS)
            return None
        return render(request, "admin/knowledge/move_documents.html", {
            **self.admin_site.each_context(request), "title": "Move documents to a collection", "form": form,
            "documents": queryset, "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })

    @admin.action(description="Retry selected failed documents")
    def retry(self, request, queryset):
        self._each(request, queryset.defer("text", "page_starts"), services.document_retry,
                   done="Queued {} document(s) again.", refused="Not retried")

    @admin.action(description="Re-embed selected documents with the active embedding backend")
    def reembed(self, request, queryset):
        self._each(request, queryset.defer(None), services.document_reembed,
                   done="Re-embedded {} document(s).", refused="Not re-embedded")

    def _each(self, request, documents, service, *, done: str, refused: str) -> None:
        """Run `service` on each document; one message for those done, one per refusal with its reason."""
        count = 0
        for document in documents:
            try:
                service(document=document)
                count += 1
            except services.IngestError as exc:
                self.message_user(request, f"{refused}: {document.title}: {exc}", messages.ERROR)
        if count:
            self.message_user(request, done.format(count), messages.SUCCESS)


class ChunkAdmin(admin.ModelAdmin):
    """Read-only: chunks are made by ingestion, never edited by hand."""

    list_display = ["document", "position", "page", "token_count", "preview"]
    list_select_related = ["document"]
    search_fields = ["text", "document__title"]
    fields = ["document", "position", "page", "start_char", "end_char", "token_count", "text"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="text")
    def preview(self, chunk: Chunk) -> str:
        return chunk.text[:120] + ("…" if len(chunk.text) > 120 else "")


admin.site.register(Document, DocumentAdmin)
admin.site.register(Chunk, ChunkAdmin)
