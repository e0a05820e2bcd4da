from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """`/api/sessions` and `/api/sessions/` both route (DESIGN.md, REST API), with no redirect.

    SimpleRouter only knows "slash" or "no slash"; its patterns are regexes, so an optional slash is `/?`.
    """

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
