"""SECRET_KEY from the environment: with DEBUG off, a real key or no start at all.

Django signs sessions, password-reset links and CSRF tokens with SECRET_KEY; an install running on a key
published in this repository could have its sessions forged. So, with DEBUG off, the app refuses to start
on a missing or weak key, with one line saying how to set one (`make run` writes a random one to .env).
"""

DEV_KEY = "dev-only-insecure-key-for-DEBUG-true"
HOW_TO_SET = (
    "ragchat: SECRET_KEY is not set or too weak (50+ characters needed). Run `make run` once (it writes a "
    "random key to .env), or set SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\"."
)


def is_strong(key: str) -> bool:
    """What `manage.py check --deploy` accepts (security.W009): 50+ characters, 5+ distinct, not Django's default."""
    return len(key) >= 50 and len(set(key)) >= 5 and not key.startswith("django-insecure-") and key != DEV_KEY


def secret_key(value: str, *, debug: bool) -> str:
    if debug and not value:
        return DEV_KEY
    if not debug and not is_strong(value):
        raise SystemExit(HOW_TO_SET)
    return value
