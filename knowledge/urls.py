from knowledge.views import DocumentViewSet
from ragchat.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("documents", DocumentViewSet, basename="document")

urlpatterns = router.urls
