from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.db.models import QuerySet
from django.template.defaultfilters import filesizeformat, pluralize
from django.urls import reverse
from django.utils.html import format_html

from knowledge import services
from knowledge.extraction import SUPPORTED_EXTENSIONS
from knowledge.models import Chunk, Document


class DocumentUploadForm(forms.ModelForm):
    """The admin's add form: a file, ingested when the form is saved (errors show on the form)."""

    file = forms.FileField(help_text=f"Supported: {', '.join(SUPPORTED_EXTENSIONS)}.")
    title = forms.CharField(max_length=300, required=False, help_text="Defaults to the file name.")

    class Meta:
        model = Document
        fields = ["title"]

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
            document = services.document_ingest(
                data=upload.read(), filename=upload.name or "", title=cleaned.get("title", ""),
                user=self.request.user if self.request else None, keep_failed=True,
            )
        except services.DuplicateDocument as exc:
            raise forms.ValidationError(f"{exc} (document #{exc.existing.pk}).") from exc
        except services.IngestError as exc:
            kept = " It is kept in the list marked failed." if getattr(exc, "document", None) else ""
            raise forms.ValidationError(f"{exc}{kept}") from exc
        # The service saved the document; the admin's own save step then only re-saves it.
        self.instance = document
        cleaned["title"] = document.title
        return cleaned


class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "human_size", "chunk_count", "uploaded_by", "content_type", "created_at"]
    list_filter = ["status", "content_type"]
    search_fields = ["title", "filename"]
    list_select_related = ["uploaded_by"]
    actions = ["reembed"]
    readonly_fields = ["filename", "content_type", "human_size", "sha256", "status", "error", "chunk_count",
                       "chunk_link", "uploaded_by", "created_at", "updated_at", "text_preview"]
    fields = ["title", *readonly_fields]

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None:
            # Adding ingests: extraction and embedding may take a while, and the service opens its own short
            # write transaction. Wrapping it all in the admin's usual transaction would hold the database's
            # write lock (SQLite) for the whole upload.
            return self._changeform_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

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
        return ["file", "title"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)  # a title edit; bumps updated_at for the index
        # On add, DocumentUploadForm.clean() has already ingested and saved the document.

    def get_deleted_objects(self, objs, request):
        # Chunks are read-only in the admin, yet they go with their document: not a missing permission.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, perms_needed - {Chunk._meta.verbose_name}, protected

    def delete_queryset(self, request, queryset):
        for document in queryset:
            services.document_delete(document=document)

    def delete_model(self, request, obj):
        services.document_delete(document=obj)

    @admin.display(description="size", ordering="size")
    def human_size(self, document: Document) -> str:
        return filesizeformat(document.size)

    @admin.display(description="chunks")
    def chunk_link(self, document: Document) -> str:
        url = reverse("admin:knowledge_chunk_changelist") + f"?document__id__exact={document.pk}"
        return format_html('<a href="{}">{} chunk{}</a>', url, document.chunk_count, pluralize(document.chunk_count))

    @admin.display(description="extracted text (start)")
    def text_preview(self, document: Document) -> str:
        text = Document.objects.filter(pk=document.pk).values_list("text", flat=True).first() or ""
        return text[:2000] + ("…" if len(text) > 2000 else "")

    @admin.action(description="Re-embed selected documents with the active embedding backend")
    def reembed(self, request, queryset):
        done, failed = 0, []
        for document in queryset.defer(None):
            try:
                services.document_reembed(document=document)
                done += 1
            except services.IngestError as exc:
                failed.append(f"{document.title}: {exc}")
        if done:
            self.message_user(request, f"Re-embedded {done} document(s).", messages.SUCCESS)
        for reason in failed:
            self.message_user(request, f"Not re-embedded: {reason}", messages.ERROR)


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
