"""Sharing one run of costly work among the threads that ask for it at the same time (group commit).

    embed = Batched(lambda texts: model.embed(texts))   # work on a list -> one result per item, in order
    vector = embed("how much vacation do I get?")       # from any thread

A call that finds no run in progress runs at once, with whatever is queued: alone, it is a batch of one and
costs what a direct call costs (no timer, no waiting for company). Calls that arrive while a run is in
progress queue up and go together in the next run, led by one of them. Under load, one model run (or one
matrix product) then serves many requests: a batch of 8 short queries costs the model about twice one.
"""

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot:
    __slots__ = ("item", "done", "value", "error")

    def __init__(self, item):
        self.item, self.done, self.value, self.error = item, False, None, None


class Batched(Generic[Item, Result]):
    def __init__(self, work: Callable[[list[Item]], Sequence[Result]], *, max_batch: int = 32):
        self._work = work
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._running = False

    def __call__(self, item: Item) -> Result:
        slot = _Slot(item)
        with self._cond:
            self._queue.append(slot)
        while True:
            with self._cond:
                while self._running and not slot.done:
                    self._cond.wait()
                if slot.done:
                    break
                batch, self._queue = self._queue[:self._max_batch], self._queue[self._max_batch:]
                self._running = True
            self._run(batch)  # this thread leads; its own slot is in this batch or a later one
        if slot.error is not None:
            raise slot.error
        return slot.value

    def _run(self, batch: list[_Slot]) -> None:
        try:
            values, error = list(self._work([slot.item for slot in batch])), None
            if len(values) != len(batch):
                values, error = [], RuntimeError(f"Batched work gave {len(values)} results for {len(batch)} items.")
        except Exception as exc:  # every caller of the batch gets the error, as a direct call would
            values, error = [], exc
        with self._cond:
            for i, slot in enumerate(batch):
                slot.done = True
                slot.value, slot.error = (None, error) if error is not None else (values[i], None)
            self._running = False
            self._cond.notify_all()
