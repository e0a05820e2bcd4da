"""The production server (gunicorn with ragchat/gunicorn_conf.py) in a child process, for tests and benchmarks.

    with ProductionServer(database_url, env={"CHAT_BACKEND": "offline"}) as server:
        urllib.request.urlopen(server.url + "/healthz")

It listens on a socket this process binds and hands over (port 0: the OS picks a free port, or a port of
the caller's range) and is ready when /healthz answers. Its output goes to a log file, shown on failure.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.processes import child_originals_dir

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
TEST_SECRET_KEY = "tests-only-" + "k3y-not-for-production-" * 3


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is connected to (e.g. the test database)."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user, host, port = settings_dict["USER"], settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 3306
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return f"mysql://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


class ProductionServer:
    def __init__(self, database_url: str, *, env: dict | None = None, port: int = 0, workers: int = 2,
                 threads: int = 64, start_timeout: float = 60.0):
        self.database_url, self.port = database_url, port
        self.extra_env = {"WEB_CONCURRENCY": str(workers), "WEB_THREADS": str(threads), **(env or {})}
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="ragchat-gunicorn-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ProductionServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(2048)
        self.port = listener.getsockname()[1]
        env = {**os.environ, "SECRET_KEY": os.environ.get("SECRET_KEY", TEST_SECRET_KEY),
               "DJANGO_SETTINGS_MODULE": "ragchat.settings", "DATABASE_URL": self.database_url,
               "LOG_LEVEL": "WARNING", "ORIGINALS_DIR": child_originals_dir(), **self.extra_env}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(GUNICORN), "-c", "python:ragchat.gunicorn_conf", "--bind", f"fd://{listener.fileno()}",
                 "ragchat.wsgi"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),), start_new_session=True)
        listener.close()  # the child holds its own copy
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)  # the workers are still importing the app
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz within {self.start_timeout:g} s:\n{self.output()}")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers' process ids (the master's children)."""
        master = self.process.pid
        return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the master and its workers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def __enter__(self) -> "ProductionServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)
