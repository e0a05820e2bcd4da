"""Queries that arrive together share one model run, and each caller still gets its own result or error."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from knowledge.batching import Batched


def test_each_caller_gets_the_result_for_its_own_item():
    runs = []
    double = Batched(lambda items: runs.append(list(items)) or [item * 2 for item in items], max_batch=4)
    with ThreadPoolExecutor(16) as pool:
        assert list(pool.map(double, range(100))) == [item * 2 for item in range(100)]
    assert sorted(item for run in runs for item in run) == list(range(100))  # each item ran exactly once
    assert max(len(run) for run in runs) <= 4


def test_callers_waiting_during_a_run_share_the_next_one():
    started, release = threading.Event(), threading.Event()
    runs = []

    def work(items):
        runs.append(list(items))
        if items == ["first"]:
            started.set()
            release.wait(10)
        return [item.upper() for item in items]

    upper = Batched(work)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(upper, "first")
        started.wait(10)
        rest = [pool.submit(upper, word) for word in ("a", "b", "c", "d", "e")]
        while len(upper._queue) < 5:  # all five are queued behind the running batch
            threading.Event().wait(0.01)
        release.set()
        assert first.result() == "FIRST" and [f.result() for f in rest] == ["A", "B", "C", "D", "E"]
    assert runs[0] == ["first"] and sorted(runs[1]) == ["a", "b", "c", "d", "e"] and len(runs) == 2


def test_an_error_reaches_every_caller_of_the_batch_and_the_next_call_works():
    fail = threading.Event()
    fail.set()

    def work(items):
        if fail.is_set():
            raise ValueError("model failed")
        return items

    same = Batched(work)
    with pytest.raises(ValueError, match="model failed"):
        same("x")
    fail.clear()
    assert same("y") == "y"
