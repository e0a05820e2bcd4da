"""One page shape for every list endpoint: {count, next, previous, results}.

A client follows `next` (an absolute URL, null on the last page) until it is null; `?page_size=`
asks for up to API_MAX_PAGE_SIZE items per page. A page past the end is 404 "Invalid page.".
"""

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class Pages(PageNumberPagination):
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        """?page_size= must be a whole number from 1 (400 otherwise, rather than quietly the default);
        more than API_MAX_PAGE_SIZE is cut to it."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        digits = raw.lstrip("0")
        if not raw.isascii() or not raw.isdigit() or not digits:
            raise ValidationError({"page_size": ["A whole number from 1."]})
        return self.max_page_size if len(digits) > 6 else min(int(digits), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters
