"""The one browser page: the chat app shell. Everything else it shows comes from the REST API."""

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def chat_page(request, session_id: UUID | None = None):
    # The session in the URL is not looked up here: the page is the same for any id, and the script
    # asks the API for it (another user's session is a 404 there, shown as "not found").
    return render(request, "chat/index.html", {"session_id": session_id or ""})
