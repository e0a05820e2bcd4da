"""ragchat settings: everything an operator changes comes from the environment (django-environ).

The defaults are the embedded set-up: SQLite in the project folder and offline chat/embedding
backends, so a laptop with no key and no database server runs the whole app.
"""

import os
import tempfile
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "ragchat",
    "sessions_app",
    "knowledge",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ragchat.urls"
WSGI_APPLICATION = "ragchat.wsgi.application"
ASGI_APPLICATION = "ragchat.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
_db = DATABASES["default"]
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.mysql":
    # utf8mb4 for 4-byte characters (emoji), strict mode so bad data is an error, not a truncation.
    _db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    _db["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'",
        **_db.get("OPTIONS", {}),
    }
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while `manage.py ingest` writes from another process.
    _db["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE",
                      "timeout": 20, **_db.get("OPTIONS", {})}
    # A file, not :memory:, so tests can run `manage.py` in a second process against the test database;
    # per process, so parallel runs do not collide.
    _db["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"ragchat-test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=None)  # only for `collectstatic` behind another web server
# Serve straight from the source folders: no collectstatic step for a self-hosted install.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- REST API -------------------------------------------------------------------------------------
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)  # items per page of every list endpoint
API_MAX_PAGE_SIZE = 200  # the most a client may ask for with ?page_size=
REST_FRAMEWORK = {
    # Token first: an unauthenticated call then gets 401 with `WWW-Authenticate: Token`, not a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "ragchat.pagination.Pages",
    "EXCEPTION_HANDLER": "ragchat.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ragchat API",
    "DESCRIPTION": "Chat sessions grounded in a shared knowledge base of documents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Providers (DESIGN.md "Providers") ------------------------------------------------------------
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="")
_openai_configured = bool(OPENAI_API_KEY or OPENAI_BASE_URL)
CHAT_BACKEND = env("CHAT_BACKEND", default="openai" if _openai_configured else "offline")
EMBEDDING_BACKEND = env("EMBEDDING_BACKEND", default="openai" if _openai_configured else "local")
OPENAI_CHAT_MODEL = env("OPENAI_CHAT_MODEL", default="gpt-4o-mini")
OPENAI_EMBEDDING_MODEL = env("OPENAI_EMBEDDING_MODEL", default="text-embedding-ada-002")
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=60.0)  # seconds per request
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=2)  # 429/5xx/connection errors
OPENAI_EMBEDDING_BATCH = env.int("OPENAI_EMBEDDING_BATCH", default=64)

# --- Knowledge base and retrieval -----------------------------------------------------------------
RAG_TOP_K = env.int("RAG_TOP_K", default=5)
RAG_MIN_SCORE = env.float("RAG_MIN_SCORE", default=0.07)  # cosine; tuned by bench/retrieval_quality.py
CHUNK_SIZE = env.int("CHUNK_SIZE", default=800)  # tokens
CHUNK_OVERLAP = env.int("CHUNK_OVERLAP", default=100)  # tokens
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=20 * 1024 * 1024)
CHAT_MESSAGE_MAX_CHARS = 32_000
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", default=3000)

# --- Search index (knowledge/index.py; README "Search index") ---------------------------------------
# Where the index's snapshot files live: the first process to load the index writes one, and the machine's
# other processes (web workers) map it instead of holding a copy each. Per checkout by default; files are
# named after the database, so several databases (and test databases) can share the folder. Empty: none.
INDEX_SNAPSHOT_DIR = env("INDEX_SNAPSHOT_DIR", default=str(BASE_DIR / "var" / "index"))
# Smaller indexes are simply held by each process (a snapshot would save little and cost a file write).
INDEX_SNAPSHOT_MIN_ROWS = env.int("INDEX_SNAPSHOT_MIN_ROWS", default=10_000)
# From this many rows, the snapshot holds int8 copies of the vectors (a quarter of the bytes) that a query
# scans before it rescores the best in float32: faster than a float32 scan, with the same top results.
INDEX_INT8_OVER_ROWS = env.int("INDEX_INT8_OVER_ROWS", default=20_000)
# Threads of that int8 scan per query: 0 uses every core (lowest latency for one process); with several web
# worker processes, 1 (as OPENBLAS_NUM_THREADS=1 for numpy's float32 product).
INDEX_SCAN_THREADS = env.int("INDEX_SCAN_THREADS", default=0)

# Uploads larger than this are streamed to a temporary file rather than held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = DOCUMENT_MAX_BYTES + 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
