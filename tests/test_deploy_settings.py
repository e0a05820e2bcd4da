"""Secrets and transport come from the environment: no start on a weak key, a clean `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The README's "Production" environment (with placeholder values).
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "some-long-random-production-key-0123456789",
    "ALLOWED_HOSTS": "chat.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}


def manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**clean, "DJANGO_SETTINGS_MODULE": "ragchat.settings", **env},
                          timeout=120)


@pytest.mark.parametrize("key", ["", "short", "dev-only-insecure-key-for-DEBUG-true", "django-insecure-" + "x" * 50])
def test_debug_off_refuses_to_start_without_a_real_secret_key(key, tmp_path):
    result = manage("check", SECRET_KEY=key, DEBUG="false")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SECRET_KEY" in lines[0] and "make run" in lines[0], result.stderr


def test_debug_on_runs_without_a_key():
    assert manage("check", SECRET_KEY="", DEBUG="true").returncode == 0


def test_check_deploy_is_clean_with_the_documented_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


def test_the_readme_documents_every_production_variable():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in PRODUCTION_ENV if f"{name}=" not in readme]
    assert not missing, missing
