"""/v1: the OpenAI-format API (chat/completion_views.py). A trailing slash is optional, as under /api."""

from django.urls import re_path

from chat import completion_views

urlpatterns = [
    re_path(r"^models/?$", completion_views.ModelList.as_view(), name="v1-models"),
    # A model id may hold a slash (ragchat/<collection>).
    re_path(r"^models/(?P<model_id>.+?)/?$", completion_views.ModelDetail.as_view(), name="v1-model"),
    re_path(r"^chat/completions/?$", completion_views.ChatCompletions.as_view(), name="v1-chat-completions"),
]
