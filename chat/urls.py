from django.urls import re_path

from chat import views

# Paths with and without a trailing slash both work (DESIGN.md, REST API).
urlpatterns = [
    re_path(r"^sessions/(?P<pk>[0-9a-fA-F-]{36})/chat/?$", views.ChatView.as_view(), name="session-chat"),
    re_path(r"^sessions/(?P<pk>[0-9a-fA-F-]{36})/stop/?$", views.stop, name="session-stop"),
    re_path(r"^search/?$", views.search, name="search"),
    re_path(r"^config/?$", views.config, name="config"),
]
