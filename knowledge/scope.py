"""Which documents a search may look at: those its user may read, within a chat's scope if it has one.

Access is decided from the database (Collection/Document.objects.readable_by): a user removed from a group
loses its collections at the next question. The answer is a set of document ids, which the index turns into
a mask over its rows (knowledge/index.py), so a search still costs one matrix product.

Reading that answer costs more than the rest of a search, so each process keeps it per user until
IndexState's versions say it may have changed: `access_version` (who may read which collection,
knowledge/index_state.py) and, for a list of document ids, `version` (which documents are ready). Both are
read in one primary-key lookup.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from django.db.models import Q

from knowledge import index_state
from knowledge.models import Collection, Document

KEPT_USERS = 4096  # answers kept per process (least recently used go first)


@dataclass(frozen=True)
class Scope:
    """Collections and documents a chat is limited to (their union); empty: no limit."""

    collections: tuple[int, ...] = ()
    documents: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.collections or self.documents)


def searchable_documents(*, user, scope: Scope | None = None,
                         served: index_state.Served | None = None) -> np.ndarray | None:
    """The ids of the ready documents `user` may search within `scope`, or None when that is every document
    (staff, or a user who reads every collection, without a scope): the index then needs no mask. `served`:
    the state row, if the caller has just read it."""
    if user is None or not user.is_authenticated:
        return np.zeros(0, dtype=np.int64)
    if scope:
        return _ready_ids(Document.objects.readable_by(user).filter(
            Q(collection__in=scope.collections) | Q(pk__in=scope.documents)))
    if user.is_staff:
        return None
    state = served or index_state.served()
    if _kept(("everything", user.pk, state.access_version), lambda: reads_everything(user)):
        return None
    return _kept(("ids", user.pk, state.access_version, state.version),
                 lambda: _ready_ids(Document.objects.readable_by(user)))


def reads_everything(user) -> bool:
    return user.is_staff or not Collection.objects.exclude(pk__in=Collection.objects.readable_by(user)).exists()


def _ready_ids(documents) -> np.ndarray:
    ids = np.fromiter(documents.filter(status=Document.Status.READY).values_list("pk", flat=True), dtype=np.int64)
    ids.flags.writeable = False  # kept and shared by concurrent searches
    return ids


_lock = threading.Lock()
_answers: OrderedDict[tuple, object] = OrderedDict()


def forget() -> None:
    """Drop every kept answer (tests, which start databases over from the same versions)."""
    with _lock:
        _answers.clear()


def _kept(key: tuple, read):
    """The answer kept under `key`, or `read()`'s, kept. Keys name the versions they hold for, so an answer
    for older versions is never used again and ages out."""
    with _lock:
        if key in _answers:
            _answers.move_to_end(key)
            return _answers[key]
    answer = read()
    with _lock:
        _answers[key] = answer
        while len(_answers) > KEPT_USERS:
            _answers.popitem(last=False)
    return answer
