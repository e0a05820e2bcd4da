from django.urls import re_path

from ragchat.routers import OptionalSlashRouter
from sessions_app.views import ChatSessionViewSet, FeedbackView

router = OptionalSlashRouter()
router.register("sessions", ChatSessionViewSet, basename="session")

urlpatterns = [
    *router.urls,
    # At most 18 digits: a larger id could only overflow the database driver.
    re_path(r"^messages/(?P<pk>[0-9]{1,18})/feedback/?$", FeedbackView.as_view(), name="message-feedback"),
]
