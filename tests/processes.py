"""Real processes for the tests: `manage.py` commands (a worker, ingest) against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def child_database_url() -> str:
    """The test database, as a DATABASE_URL for a second process."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"mysql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


def child_originals_dir() -> str:
    """The test's folder of original files (tests/conftest.py), so a child process keeps them where the test looks."""
    return settings.STORAGES["originals"]["OPTIONS"]["location"]


def child_env(**extra) -> dict:
    return {**os.environ, "DATABASE_URL": child_database_url(), "EMBEDDING_BACKEND": "local",
            "ORIGINALS_DIR": child_originals_dir(), **extra}


def manage(*args: str, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=child_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def start_worker(**env) -> subprocess.Popen:
    """`manage.py worker` polling every 0.1 s, taking a job for dead after INGEST_STALLED_AFTER (2 s here)."""
    env = {"INGEST_STALLED_AFTER": "2", **env}
    return manage("worker", "--interval", "0.1", "--no-startup-delay", **env)


def children_of(pid: int) -> set[int]:
    found = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found.update(int(child) for child in listing.read().split())
    except FileNotFoundError:
        pass
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(condition, timeout: float = 30.0, what: str = "the condition"):
    """Poll `condition` (a state, not a time) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")


def stop(process: subprocess.Popen) -> str:
    """Stop a process (if it still runs) and return what it printed."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    output, _ = process.communicate(timeout=30)
    return output or ""
