"""The API's JSON parser: DRF's, except that a body nested too deep to parse is the client's error (400).

`[[[[...]]]]` 100,000 levels deep makes json.load raise RecursionError, which DRF does not catch (500).
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.")
