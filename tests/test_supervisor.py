"""ragchat/supervisor.py, as `make run` uses it: commands start together, stop together, and a crash is handled."""

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT, alive, wait_for


def sleeper(pid_file: Path) -> str:
    """A command that writes its pid, then waits to be stopped."""
    code = f"import os, time; open({str(pid_file)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(600)"
    return shlex.join([sys.executable, "-c", code])


def supervisor(*commands: str, min_uptime: float = 5) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ragchat.supervisor", "--grace", "5", "--min-uptime",
                             str(min_uptime), *commands], cwd=ROOT, stderr=subprocess.PIPE, text=True)


def pids(pid_file: Path) -> list[int]:
    return [int(line) for line in pid_file.read_text().split()] if pid_file.exists() else []


def test_sigterm_stops_every_command(tmp_path):
    web, worker = tmp_path / "web.pid", tmp_path / "worker.pid"
    process = supervisor(sleeper(web), sleeper(worker))
    wait_for(lambda: pids(web) and pids(worker), what="both commands to start")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert not alive(pids(web)[0]) and not alive(pids(worker)[0])


def test_a_command_that_fails_at_once_stops_the_others(tmp_path):
    web = tmp_path / "web.pid"
    process = supervisor(sleeper(web), shlex.join([sys.executable, "-c", "import sys; sys.exit(3)"]))
    assert process.wait(timeout=15) == 3
    assert "exited with status 3; stopping everything" in process.stderr.read()
    wait_for(lambda: pids(web), what="the first command's pid")
    assert not alive(pids(web)[0])


def test_a_command_that_dies_later_is_started_again(tmp_path):
    worker = tmp_path / "worker.pid"
    process = supervisor(sleeper(worker), min_uptime=0)  # any exit counts as "later"
    try:
        first = wait_for(lambda: pids(worker), what="the worker")[0]
        wait_for(lambda: not alive(first) or os.kill(first, signal.SIGKILL), timeout=5, what="the kill")
        wait_for(lambda: len(pids(worker)) == 2, what="the worker to be started again")
        assert alive(pids(worker)[1])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_commands_die_with_a_killed_supervisor(tmp_path):
    web = tmp_path / "web.pid"
    process = supervisor(sleeper(web))
    child = wait_for(lambda: pids(web), what="the command")[0]
    process.kill()
    process.wait(timeout=10)
    wait_for(lambda: not alive(child), timeout=10, what="the command to die with its supervisor")
