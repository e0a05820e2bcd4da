"""One page shape for every list endpoint: {count, next, previous, results}.

A client follows `next` (an absolute URL, null on the last page) until it is null; `?page_size=`
asks for up to API_MAX_PAGE_SIZE items per page. A page past the end is 404 "Invalid page.".
"""

from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class Pages(PageNumberPagination):
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE
