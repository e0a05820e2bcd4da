"""ragchat settings: everything an operator changes comes from the environment (django-environ).

The defaults are the embedded set-up: SQLite in the project folder and offline chat/embedding
backends, so a laptop with no key and no database server runs the whole app.
"""

import os
import tempfile
from pathlib import Path

import environ

from ragchat.secrets import secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = secret_key(env("SECRET_KEY", default=""), debug=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

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
    "csp",
    "django_tasks",
    "django_tasks_db",
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
    "csp.middleware.CSPMiddleware",
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
# Persistent connections on every database: a new SQLite connection per request (its PRAGMAs included) was
# ~40% of the cost of a request that only authenticates (bench/load.py, README "Production").
_db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if _db["ENGINE"] == "django.db.backends.mysql":
    # utf8mb4 for 4-byte characters (emoji), strict mode so bad data is an error, not a truncation.
    _db["OPTIONS"] = {
        "charset": "utf8mb4",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION'",
        # A database host that stops answering makes requests fail (503) after this long, not hang.
        "connect_timeout": env.int("DB_CONNECT_TIMEOUT", default=5),
        **_db.get("OPTIONS", {}),
    }
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while `manage.py ingest` writes from another process.
    # synchronous=NORMAL: in WAL mode a commit no longer waits for fsync (SQLite's advice for WAL; no corruption,
    # only the last commits can be lost on power loss). Every rate-limited request writes a counter (issue 8).
    _db["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                      "transaction_mode": "IMMEDIATE",
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
        "ragchat.throttles.LimitedTokenAuthentication",  # failed tokens are counted per client address
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only (uploads add multipart): a form-encoded "name=" would read as "no name given".
    "DEFAULT_PARSER_CLASSES": ["ragchat.parsers.JSONParser"],  # nested too deep is a 400, not a RecursionError
    "DEFAULT_SCHEMA_CLASS": "ragchat.schema.AutoSchema",
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
    "COMPONENT_SPLIT_REQUEST": True,  # request bodies get their own schemas: file uploads, text patterns
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
# The least cosine of question and passage worth answering from: a model's cosines have their own scale, so the
# default is the local model's (bench/retrieval_quality.py) or, for hashed words, 0.07.
RAG_MIN_SCORE = env.float("RAG_MIN_SCORE", default={"local": 0.15}.get(EMBEDDING_BACKEND, 0.07))
CHUNK_SIZE = env.int("CHUNK_SIZE", default=800)  # tokens
CHUNK_OVERLAP = env.int("CHUNK_OVERLAP", default=100)  # tokens
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=20 * 1024 * 1024)
CHAT_MESSAGE_MAX_CHARS = 32_000
# A search query travels in the URL: 500 characters, percent-encoded (up to 12 bytes each), still fit the
# 8,190-byte request line the production server accepts (longer lines are 414).
SEARCH_QUERY_MAX_CHARS = 500
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", default=3000)

# --- Local embedding model (issue 10: knowledge/embeddings.py) -------------------------------------
# EMBEDDING_BACKEND=local runs all-MiniLM-L6-v2 on the CPU; `hashed` is the no-dependency fallback.
LOCAL_EMBEDDING_THREADS = env.int("LOCAL_EMBEDDING_THREADS", default=0)  # onnxruntime threads; 0: all cores
# --- Ingestion: the job queue, the worker and bounded reading (wip/ingest) --------------------------
# Documents are read, chunked and embedded by `manage.py worker` (django-tasks' database backend: the queue is a
# table of the same database, so the embedded default needs no other server).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Each file is read in a child process with hard limits, killed when it overruns them.
INGEST_READ_SECONDS = env.float("INGEST_READ_SECONDS", default=300.0)  # wall-clock time to read one file
INGEST_READ_CPU_SECONDS = env.int("INGEST_READ_CPU_SECONDS", default=300)  # CPU time of the reading process
INGEST_READ_MEMORY_MB = env.int("INGEST_READ_MEMORY_MB", default=1024)  # address space of the reading process
INGEST_NICE = env.int("INGEST_NICE", default=10)  # workers and readers yield the CPU to the web server
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=3)  # a document whose worker died this often fails
# A document `processing` without a heartbeat for this long had its worker die: it is queued again (or failed).
INGEST_STALLED_AFTER = env.float("INGEST_STALLED_AFTER", default=60.0)
# `wait` uploads beyond one per web process at a time wait for a worker this long, then answer 202.
INGEST_WAIT_SECONDS = env.float("INGEST_WAIT_SECONDS", default=600.0)
OCR_ENABLED = env.bool("OCR_ENABLED", default=True)  # read PDF pages without a text layer with Tesseract
OCR_LANGUAGES = env("OCR_LANGUAGES", default="eng")  # Tesseract's language codes, e.g. "eng+deu"
OCR_DPI = env.int("OCR_DPI", default=300)
# --- Chat actions and follow-ups (issue 11) --------------------------------------------------------
# With a language model, a follow-up question ("and the second one?") is rewritten as a stand-alone search
# query by one short call (chat/followups.py); off, or offline, the search adds the earlier questions.
FOLLOW_UP_REWRITE = env.bool("FOLLOW_UP_REWRITE", default=True)
FOLLOW_UP_REWRITE_TIMEOUT = env.float("FOLLOW_UP_REWRITE_TIMEOUT", default=10.0)  # seconds; then the fallback
FEEDBACK_COMMENT_MAX_CHARS = 2000
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

# --- Original files (issue 11: knowledge/originals.py; README "Citations and originals") ------------
# An uploaded file is kept once its document is ready, for download, in the "originals" storage: a folder by
# default (ORIGINALS_DIR; per checkout, never served by any URL but the checked download endpoint), or any Django
# storage backend (ORIGINALS_STORAGE, its options as JSON in ORIGINALS_STORAGE_OPTIONS, e.g. django-storages' S3).
# Web servers and workers must share it: workers write, web servers read.
ORIGINALS_DIR = env("ORIGINALS_DIR", default=str(BASE_DIR / "var" / "originals"))
_originals_backend = env("ORIGINALS_STORAGE", default="django.core.files.storage.FileSystemStorage")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "originals": {
        "BACKEND": _originals_backend,
        "OPTIONS": env.json("ORIGINALS_STORAGE_OPTIONS", default={})
        or ({"location": ORIGINALS_DIR, "base_url": None, "file_permissions_mode": 0o600,
             "directory_permissions_mode": 0o700}
            if _originals_backend == "django.core.files.storage.FileSystemStorage" else {}),
    },
}

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

# --- Production: transport, content security, limits, shared cache (issue 8) ---------------------------
# Behind a TLS-terminating proxy: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https (the proxy must set
# that header itself, overwriting any the client sent). README "Production" lists the whole environment.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_PROXY_SSL_HEADER = tuple(env.list("SECURE_PROXY_SSL_HEADER", default=[])) or None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=14 * 24 * 3600)
X_FRAME_OPTIONS = "DENY"

# One policy for every page: scripts, styles and everything else only from this origin, never inline.
# Swagger UI (/api/docs) draws its icons from data: URIs, hence img-src data:.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# The client address for per-address limits is REMOTE_ADDR, unless the app runs behind this many reverse
# proxies that each append to X-Forwarded-For: then the address the nearest trusted proxy saw. With 0, a
# forged X-Forwarded-For changes nothing.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT

# Sign-in: failures per account and per client address within LOGIN_LOCKOUT_SECONDS; past either limit,
# sign-in is refused (429) until the window ends, even with the right password.
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
# API tokens: an address that sent this many unknown tokens within TOKEN_LOCKOUT_SECONDS gets 429.
TOKEN_FAILURES_PER_ADDRESS = env.int("TOKEN_FAILURES_PER_ADDRESS", default=20)
TOKEN_LOCKOUT_SECONDS = env.int("TOKEN_LOCKOUT_SECONDS", default=60)
# Per-user API rates ("N/second|minute|hour|day"): what a signed-in user may spend on the costly endpoints.
API_RATES = {
    "chat": env("THROTTLE_CHAT", default="20/minute"),
    "uploads": env("THROTTLE_UPLOADS", default="60/minute"),
    "search": env("THROTTLE_SEARCH", default="120/minute"),
}

# The counters above must be shared by every worker process: the database (default) or Redis.
# REDIS_URL=redis://host:6379/0, or any CACHE_URL django-environ understands (dbcache://table, redis://...).
CACHE_TABLE = "ragchat_cache"
if env("REDIS_URL", default=""):
    _cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
elif env("CACHE_URL", default=""):
    _cache = env.cache_url("CACHE_URL")
else:
    _cache = {"BACKEND": "ragchat.cache.DatabaseCache", "LOCATION": CACHE_TABLE}
if _cache["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    _cache["BACKEND"] = "ragchat.cache.DatabaseCache"  # the same table, with an atomic incr()
_cache["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default="ragchat")
CACHES = {"default": _cache}
