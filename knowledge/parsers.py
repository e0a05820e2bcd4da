"""Multipart uploads that keep a file named "." or "..": Django drops such a part silently, and the upload
then looked like a request without any file ("Send either a file or content"). Here it arrives, named
"unnamed", and is judged by its bytes like any file without an extension."""

from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import DataAndFiles, MultiPartParser, get_encoding

UNNAMED = "unnamed"


class _KeepDotNames(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name):
        sanitized = super().sanitize_file_name(file_name)
        last_part = file_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        return UNNAMED if sanitized is None and last_part in {".", ".."} else sanitized


class UploadParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        encoding = get_encoding(parser_context)  # DRF's: refuses bytes-to-bytes codecs (a decompression bomb)
        try:
            return DataAndFiles(*_KeepDotNames(meta, stream, request.upload_handlers, encoding).parse())
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}")
