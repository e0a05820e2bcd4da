from django.urls import path

from chat.pages import chat_page

urlpatterns = [
    path("", chat_page, name="chat"),
    path("c/<uuid:session_id>", chat_page, name="chat-session"),
]
