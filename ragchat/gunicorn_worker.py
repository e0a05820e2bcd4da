"""gunicorn's gthread worker, with connections shared out evenly among the worker processes.

Every gthread worker waits on the same listening socket and the first one to wake takes the new connection.
Clients that keep their connections open (a reverse proxy's pool of upstream connections, a browser, wrk)
connect in a burst, and one worker often takes most of them: measured here with 32 keep-alive connections
and 2 workers, 32 went to one worker and none to the other, which left a core idle and doubled every
response time. Here each worker publishes how many connections it holds in memory shared by all workers
(made in the master before they fork), and a worker takes new connections only while it holds no more
than the least loaded of the others, so they stay within one of each other.

    worker_class = "ragchat.gunicorn_worker.BalancedThreadWorker"   # ragchat/gunicorn_conf.py
"""

import multiprocessing
import os

from gunicorn.workers.gthread import ThreadWorker

SLOTS = 256  # worker processes the table can hold (WEB_CONCURRENCY is one per core)
FREE, STARTING = 0, -1
# Per slot: the worker's pid (FREE, or STARTING between the master's choice and the worker's start) and the
# connections it holds. Made when the master imports this module to load the worker class, before any fork.
_pids = multiprocessing.RawArray("q", SLOTS)
_connections = multiprocessing.RawArray("q", SLOTS)
_claimed = multiprocessing.RawValue("q", 0)  # slots ever claimed: the others are all FREE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim_slot() -> int:
    """(In the master, which spawns one worker at a time.) A slot no running worker holds."""
    for slot in range(SLOTS):
        pid = _pids[slot]
        if pid == FREE or (pid > 0 and not _alive(pid)):
            _pids[slot], _connections[slot] = STARTING, 0
            _claimed.value = max(_claimed.value, slot + 1)
            return slot
    raise RuntimeError(f"More than {SLOTS} gunicorn workers: raise ragchat.gunicorn_worker.SLOTS.")


class BalancedThreadWorker(ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slot = _claim_slot()  # __init__ runs in the master, before the fork

    def init_process(self):
        _pids[self.slot] = os.getpid()
        super().init_process()

    def wait_for_and_dispatch_events(self, timeout):
        _connections[self.slot] = self.nr_conns
        fair = self._fair()
        if self._accepting and not fair:
            super().set_accept_enabled(False)
        # A worker that stepped back looks again soon: the others may have filled up or gone.
        return super().wait_for_and_dispatch_events(timeout if fair else min(timeout, 0.05))

    def accept(self, listener):
        super().accept(listener)
        _connections[self.slot] = self.nr_conns  # at once: a burst of connections is shared out as it comes
        if not self._fair():
            super().set_accept_enabled(False)

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled and self._fair())

    def _fair(self) -> bool:
        """Whether this worker holds no more connections than the least loaded other worker that can still
        take one (any worker may when it is alone or every other one is full)."""
        others = [_connections[slot] for slot in range(_claimed.value)
                  if slot != self.slot and _pids[slot] > 0 and _connections[slot] < self.worker_connections
                  and _alive(_pids[slot])]
        return not others or self.nr_conns <= min(others)
