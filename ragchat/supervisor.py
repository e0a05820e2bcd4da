"""Run several commands as one service: start them together, stop them together, restart one that dies.

    python -m ragchat.supervisor "python manage.py runserver 127.0.0.1:8000" "python manage.py worker"

`make run` starts the web server and a worker this way; a production command can do the same with its own
server (`"gunicorn ..." "python manage.py worker --processes 2"`). Ctrl-C or SIGTERM stops every command
(SIGTERM to each one's process group, SIGKILL after a grace period) and the supervisor exits 0. A command
that exits on its own after running a while (a worker killed by the kernel) is started again; one that
exits within its first seconds (a port in use, a bad setting) stops everything, with its exit status.
Each command dies with the supervisor, even if the supervisor is killed with SIGKILL (PR_SET_PDEATHSIG).
"""

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time

EARLY_EXIT_SECONDS = 5.0
POLL_SECONDS = 0.2


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Command:
    def __init__(self, argv: list[str]):
        self.argv = argv
        self.process: subprocess.Popen | None = None
        self.started = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, start_new_session=True, preexec_fn=_die_with_parent)
        self.started = time.monotonic()

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass


def supervise(commands: list[list[str]], *, grace: float = 15.0, restart: bool = True,
              min_uptime: float = EARLY_EXIT_SECONDS) -> int:
    """Run `commands` until SIGINT/SIGTERM (-> 0) or until one fails early (-> its exit status)."""
    stopping: list[int] = []

    def request_stop(signum, frame):
        stopping.append(signum)

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    children = [_Command(argv) for argv in commands]
    status = 0
    try:
        for child in children:
            child.start()
        while not stopping:
            time.sleep(POLL_SECONDS)
            for child in children:
                code = child.process.poll()
                if code is None or stopping:
                    continue
                name = shlex.join(child.argv)
                if not restart or time.monotonic() - child.started < min_uptime:
                    print(f"supervisor: `{name}` exited with status {code}; stopping everything.", file=sys.stderr)
                    status = code if code > 0 else 128 - code if code < 0 else 1  # killed by a signal: 128+n
                    stopping.append(0)
                    break
                print(f"supervisor: `{name}` exited with status {code}; starting it again.", file=sys.stderr)
                child.start()
    finally:
        for child in children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.signal(signal.SIGKILL)
                child.process.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ragchat.supervisor", description=__doc__.splitlines()[0])
    parser.add_argument("commands", nargs="+", metavar="COMMAND", help="A command line, quoted as one argument.")
    parser.add_argument("--grace", type=float, default=15.0,
                        help="Seconds to wait for the commands to stop before killing them (default 15).")
    parser.add_argument("--min-uptime", type=float, default=EARLY_EXIT_SECONDS,
                        help="A command that exits sooner than this stops everything; later, it is restarted "
                             f"(default {EARLY_EXIT_SECONDS:g} s).")
    args = parser.parse_args(argv)
    return supervise([shlex.split(command) for command in args.commands], grace=args.grace,
                     min_uptime=args.min_uptime)


if __name__ == "__main__":
    sys.exit(main())
