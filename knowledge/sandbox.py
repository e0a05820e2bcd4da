"""Read a file in a child process with hard limits, enforced from outside the parser.

A file's bytes are untrusted: a 788 KB PDF whose 4,999 pages share one expensive content stream keeps a
parser busy for hours. So every file is read (knowledge/extraction.py, OCR included) by a fresh child
process, `python -m knowledge.sandbox`, that the caller limits and watches:
- CPU time and address space: set on the child by the parent (`prlimit`) before it is sent the bytes, so the
  kernel stops it (SIGXCPU/SIGKILL, MemoryError) however the parser loops or allocates;
- wall-clock time: the parent kills the child's whole process group (OCR programs included) when it overruns;
- a lower CPU priority (nice), so reading yields to the web server;
- the child dies with its parent (PR_SET_PDEATHSIG): a killed worker leaves no reader behind;
- the child gets no environment (no database URL, no API key) and no file but a scratch folder;
- what it answers is JSON lines (progress, then the text), never pickles, and their size is capped.

The caller's `keep_going()` runs several times a second while the child works: raising from it (a cancelled
document, a worker shutting down) kills the child at once.

This module imports nothing from Django: the child side must start fast and know nothing of the database.
"""

import json
import logging
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import EmptyDocument, ExtractionFailed, UnsupportedType
from knowledge.extraction import MAX_TEXT_CHARS, Extracted

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.2
# The answer is the text as JSON (at most MAX_TEXT_CHARS characters, each at most 6 bytes escaped) and progress.
MAX_ANSWER_BYTES = 6 * MAX_TEXT_CHARS + 1024 * 1024
_ERRORS = {cls.__name__: cls for cls in (EmptyDocument, ExtractionFailed, UnsupportedType)}


@dataclass(frozen=True)
class Limits:
    wall_seconds: float
    cpu_seconds: int
    memory_mb: int
    nice: int = 10


@dataclass(frozen=True)
class Reading:
    extracted: Extracted
    cpu_seconds: float  # CPU time the child (and the OCR programs it ran) used


def read_file(data: bytes, filename: str, *, limits: Limits, ocr_languages: str | None = None, ocr_dpi: int = 300,
              progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
              keep_going: Callable[[], None] = lambda: None) -> Reading:
    """The text of `data`, read by a limited child process. Raises an IngestError (knowledge/errors.py) with
    a reason a user understands when the file cannot be read or overruns a limit; re-raises what
    `keep_going` raises, after killing the child."""
    scratch = Path(tempfile.mkdtemp(prefix="ragchat-read-"))
    try:
        child = _Child(scratch, limits)
        try:
            header = {"filename": filename, "size": len(data), "memory_mb": limits.memory_mb,
                      "ocr_languages": ocr_languages, "ocr_dpi": ocr_dpi, "scratch": str(scratch)}
            answer = child.exchange(json.dumps(header).encode() + b"\n" + data, progress, keep_going)
        finally:
            child.kill()
        return Reading(extracted=_result(answer, child, limits), cpu_seconds=child.cpu_seconds)
    finally:
        child.stderr.close()
        shutil.rmtree(scratch, ignore_errors=True)


class _Child:
    def __init__(self, scratch: Path, limits: Limits):
        self.limits = limits
        self.cpu_seconds = 0.0
        self.timed_out = False
        self.killed = False
        self.status: int | None = None  # exit code, or -signal
        self.stderr = open(scratch / "stderr.txt", "w+b")  # noqa: SIM115 (closed in kill())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "OMP_THREAD_LIMIT": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-E", "-s", "-m", "knowledge.sandbox", str(os.getpid())], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, start_new_session=True)
        pid = self.process.pid
        memory = limits.memory_mb * 1024 * 1024
        try:
            resource.prlimit(pid, resource.RLIMIT_AS, (memory, memory))
            resource.prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
            resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
            os.setpriority(os.PRIO_PROCESS, pid, max(limits.nice, os.getpriority(os.PRIO_PROCESS, 0)))
        except ProcessLookupError:
            pass  # it died already: its exit status says why

    def exchange(self, request: bytes, progress, keep_going) -> bytes:
        """Send the request, pass progress lines on, and return the final answer line (b"" if none came)."""
        deadline = time.monotonic() + self.limits.wall_seconds
        stdin, stdout = self.process.stdin, self.process.stdout
        os.set_blocking(stdin.fileno(), False)
        selector = selectors.DefaultSelector()
        selector.register(stdin, selectors.EVENT_WRITE)
        selector.register(stdout, selectors.EVENT_READ)
        sent, received, answer = 0, bytearray(), b""
        view = memoryview(request)
        open_streams = 2
        while open_streams:
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return b""
            for key, _ in selector.select(min(POLL_SECONDS, left)):
                if key.fileobj is stdin:
                    try:
                        sent += os.write(stdin.fileno(), view[sent:sent + 65536])
                    except BrokenPipeError:
                        sent = len(view)  # it stopped reading: its exit status tells why
                    if sent >= len(view):
                        selector.unregister(stdin)
                        stdin.close()
                        open_streams -= 1
                    continue
                chunk = os.read(stdout.fileno(), 1024 * 1024)
                if not chunk:
                    selector.unregister(stdout)
                    open_streams -= 1
                    continue
                received += chunk
                if len(received) > MAX_ANSWER_BYTES:
                    return b""
                *lines, rest = received.split(b"\n")
                received = bytearray(rest)
                for line in lines:
                    message = _message(line)
                    if "progress" in message:
                        stage, done, total = message["progress"]
                        progress(str(stage), int(done), int(total))
                    else:
                        answer = line
            keep_going()
        self._reap(deadline)
        return answer

    def _reap(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self._exited(status, usage)
                return
            time.sleep(0.02)
        self.timed_out = True

    def _exited(self, status: int, usage) -> None:
        self.status = self.process.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime  # its own, and that of the OCR programs it waited for

    def stderr_tail(self) -> str:
        if self.stderr.closed:
            return ""
        self.stderr.seek(0)
        return self.stderr.read()[-2000:].decode("utf-8", "replace")

    def kill(self) -> None:
        """Kill the child and everything it started, and collect its exit status and CPU time."""
        if self.status is None:
            self.killed = True
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status, usage = os.wait4(self.process.pid, 0)
            self._exited(status, usage)
            self.killed = self.status == -signal.SIGKILL
        for stream in (self.process.stdin, self.process.stdout):
            if stream and not stream.closed:
                stream.close()


def _message(line: bytes) -> dict:
    try:
        message = json.loads(line)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def _result(answer: bytes, child: _Child, limits: Limits) -> Extracted:
    if child.timed_out:
        raise ExtractionFailed(f"The file took longer than {limits.wall_seconds:g} s to read; refused.")
    if child.status in (-signal.SIGXCPU, -signal.SIGKILL) and child.cpu_seconds >= limits.cpu_seconds - 0.5:
        raise ExtractionFailed(f"The file needed more than {limits.cpu_seconds} s of CPU time to read; refused.")
    message = _message(answer)
    if child.status == 0 and isinstance(message.get("ok"), dict):
        ok = message["ok"]
        text, page_starts = ok.get("text"), ok.get("page_starts")
        if isinstance(text, str) and isinstance(page_starts, list) and len(text) <= MAX_TEXT_CHARS:
            return Extracted(text=text, content_type=str(ok.get("content_type", ""))[:100],
                             page_starts=[int(p) for p in page_starts])
    if isinstance(message.get("error"), dict):
        error = message["error"]
        raise _ERRORS.get(error.get("kind"), ExtractionFailed)(str(error.get("message", ""))[:1000])
    log.warning("The reader stopped with status %s: %s", child.status, child.stderr_tail())
    raise ExtractionFailed(f"The reader stopped unexpectedly on this file (it may need more than the "
                           f"{limits.memory_mb} MB of memory allowed); refused.")


# --- the child side ----------------------------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when its parent dies (Linux), then check it has not already."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _emit(message: dict) -> None:
    sys.stdout.buffer.write(json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")
    sys.stdout.buffer.flush()


def main() -> None:
    _die_with_parent(int(sys.argv[1]))
    header = json.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read(header["size"])
    sys.stdin.close()
    from knowledge.errors import IngestError
    from knowledge.extraction import ReadOptions, extract

    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.25 or done == total:
            last[0] = now
            _emit({"progress": [stage, done, total]})

    options = ReadOptions(ocr_languages=header["ocr_languages"], ocr_dpi=header["ocr_dpi"],
                          scratch=Path(header["scratch"]))
    try:
        extracted = extract(data, header["filename"], options=options, progress=progress)
    except IngestError as exc:
        _emit({"error": {"kind": type(exc).__name__, "message": str(exc)}})
    except MemoryError:
        _emit({"error": {"kind": "ExtractionFailed",
                         "message": f"The file needed more than {header['memory_mb']} MB of memory to read; refused."}})
    except RecursionError:
        _emit({"error": {"kind": "ExtractionFailed", "message": "The file is nested too deeply to be read."}})
    else:
        _emit({"ok": {"text": extracted.text, "content_type": extracted.content_type,
                      "page_starts": extracted.page_starts}})


if __name__ == "__main__":
    main()
