"""The OpenAPI document describes the whole API, and the docs page renders without the internet."""

import pytest
import yaml  # noqa: F401  (drf-spectacular depends on PyYAML; the schema is served as YAML by default)
from django.urls import get_resolver

pytestmark = pytest.mark.django_db


def api_paths() -> set[str]:
    """Every /api route of the project, as the router and urlconfs declare it."""
    found = set()

    def walk(patterns, prefix):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                found.add(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    return {p for p in found if p.startswith("api/") and "schema" not in p and "docs" not in p}


def test_schema_lists_every_api_path(api):
    response = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    documented = {p.rstrip("/") for p in schema["paths"]}
    assert "/api/sessions" in documented and "/api/sessions/{id}/messages" in documented
    routes = api_paths()
    assert routes, "no API routes found"
    # Each route of the urlconf appears in the schema (normalising regex/converter syntax away).
    import re
    for route in routes:
        plain = re.sub(r"\^|\$|/\?|\\\.\(\?P<format>\[a-z0-9\]\+\)", "", route)
        plain = re.sub(r"\(\?P<(\w+)>[^)]*\)|<(?:\w+:)?(\w+)>", lambda m: "{" + (m[1] or m[2]) + "}", plain)
        plain = "/" + plain.rstrip("/")
        if plain.endswith(".{format}") or "{format}" in plain:
            continue
        plain = plain.replace("{pk}", "{id}")
        assert plain in documented, f"{plain} missing from the OpenAPI schema"


def test_docs_page_renders_with_local_assets(api):
    response = api.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "cdn" not in html.lower()


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").read_text().startswith("openapi: 3")
