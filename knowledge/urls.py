from knowledge.collection_views import CollectionViewSet
from knowledge.views import DocumentViewSet
from ragchat.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("documents", DocumentViewSet, basename="document")
router.register("collections", CollectionViewSet, basename="collection")

urlpatterns = router.urls
