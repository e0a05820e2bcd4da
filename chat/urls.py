from django.urls import re_path

from chat import views

# Paths with and without a trailing slash both work (DESIGN.md, REST API). Only a well-formed UUID routes to
# a session: any other 36 characters are a 404 here, not a failed database lookup.
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
urlpatterns = [
    re_path(rf"^sessions/(?P<pk>{UUID})/chat/?$", views.ChatView.as_view(), name="session-chat"),
    re_path(rf"^sessions/(?P<pk>{UUID})/stop/?$", views.stop, name="session-stop"),
    re_path(r"^search/?$", views.search, name="search"),
    re_path(r"^config/?$", views.config, name="config"),
]
