"""The WSGI application. Under gunicorn (ragchat/gunicorn_conf.py sets WEB_RUNNING) it runs behind a gate that
lets WEB_RUNNING requests per worker process run Python at once (ragchat/gate.py); the dev server has none."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from ragchat.gate import Gate

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
application = get_wsgi_application()
if int(os.environ.get("WEB_RUNNING") or 0) > 0:
    application = Gate(application, places=int(os.environ["WEB_RUNNING"]),
                       body_limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
