from ragchat.routers import OptionalSlashRouter
from sessions_app.views import ChatSessionViewSet

router = OptionalSlashRouter()
router.register("sessions", ChatSessionViewSet, basename="session")

urlpatterns = router.urls
