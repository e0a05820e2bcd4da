from rest_framework.routers import SimpleRouter

from sessions_app.views import ChatSessionViewSet

# trailing_slash="/?": /api/sessions and /api/sessions/ both work (DESIGN.md, REST API).
router = SimpleRouter(trailing_slash="/?")
router.register("sessions", ChatSessionViewSet, basename="session")

urlpatterns = router.urls
