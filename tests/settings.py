"""Settings for the test suite: production's (ragchat/settings.py), with what tests need set here.

Tests run with DEBUG off like production, so they need a real-looking SECRET_KEY; it is set in the
environment before production's settings read it (and so reaches `manage.py` runs the tests start).
Limits stay on with production's defaults: the tests of limits count on them; a test that needs other
values sets them with the `settings` fixture.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-" + "k3y-not-for-production-" * 3)

from ragchat.settings import *  # noqa: E402,F403
