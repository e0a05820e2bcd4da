from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ragchat.health import healthz
from ragchat.login import LimitedAdminAuthenticationForm, LimitedLoginView

admin.site.login_form = LimitedAdminAuthenticationForm  # the admin's sign-in is limited like the app's

api = [
    path("", include("sessions_app.urls")),
    path("", include("knowledge.urls")),
    path("", include("chat.urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the CSP holds.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", LimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    path("api/", include(api)),
    path("v1/", include("chat.completion_urls")),  # the OpenAI-format API
    path("", include("chat.page_urls")),
]

handler400 = "ragchat.errors.bad_request_error"
handler403 = "ragchat.errors.forbidden"
handler404 = "ragchat.errors.not_found"
handler500 = "ragchat.errors.internal_error"
