"""The OpenAPI schema tells the truth about errors: every status an operation can answer is documented.

Every operation can answer 401 (no or bad credentials), 403 (a browser session without its CSRF token),
429 (a rate limit, or too many bad tokens from one address) and 503 (the database is unreachable). One that
takes a body can answer 400, 413 (too large) and 415 (a content type it does not parse); one with an id in
its path, or a paged list (a page past the end), 404. A view adds what only it can answer with `errors()`:

    @extend_schema(responses={201: DocumentSerializer, **errors(409, 422, 502)})
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiResponse

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
# A validation error names the fields it refuses ({"name": ["..."]}) or says what is wrong ({"detail": "..."}).
INVALID = {"type": "object", "additionalProperties": {}}

DESCRIPTIONS = {
    400: "Invalid input: {\"detail\": \"...\"} or the refused fields, {\"field\": [\"...\"]}.",
    401: "No credentials, or an unknown token.",
    403: "A browser session without its CSRF token, or not allowed.",
    404: "No such object (or another user's), or a page past the end.",
    409: "Conflicts with the current state (the same content exists, nothing to retry).",
    413: "The request body is too large.",
    414: "The request line (URL) is too long.",
    415: "Unsupported media type.",
    422: "The content could not be read.",
    429: "Too many requests: see Retry-After.",
    502: "The model service failed.",
    503: "The database is unavailable: see Retry-After.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(INVALID if code == 400 else ERROR, description=DESCRIPTIONS[code])
            for code in codes}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, response in errors(*self._error_codes()).items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(response, str(code), direction=direction)
        return dict(sorted(responses.items()))

    def _error_codes(self) -> list[int]:
        codes = [401, 403, 429, 503]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += [400, 413, 415]
        paged = self._is_list_view() and getattr(self.view, "paginator", None) is not None
        if paged:
            codes.append(400)  # a page_size that is not a whole number from 1
        if "{" in self.path or paged:
            codes.append(404)
        return codes

    def _get_request_body(self, direction="request"):
        """A body given as raw schemas (one per media type) is required when each of them requires fields."""
        body = super()._get_request_body(direction)
        schemas = [media["schema"] for media in (body or {}).get("content", {}).values()]
        if schemas and all(schema.get("required") or schema.get("oneOf") for schema in schemas):
            body["required"] = True
        return body


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """A StrictCharField's schema says which text it accepts (its `pattern`): schemathesis holds us to it."""

    target_class = "sessions_app.serializers.StrictCharField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["pattern"] = self.target.pattern
        return schema
