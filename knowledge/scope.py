"""Which documents a search may look at: those its user may read, within a chat's scope if it has one.

Access is decided at query time, from the database (Collection/Document.objects.readable_by): a user removed
from a group loses its collections at the next question. The answer is a set of document ids, which the
index turns into a mask over its rows (knowledge/index.py), so a search still costs one matrix product.
"""

from dataclasses import dataclass

import numpy as np
from django.db.models import Q

from knowledge.models import Collection, Document


@dataclass(frozen=True)
class Scope:
    """Collections and documents a chat is limited to (their union); empty: no limit."""

    collections: tuple[int, ...] = ()
    documents: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.collections or self.documents)


def searchable_documents(*, user, scope: Scope | None = None) -> np.ndarray | None:
    """The ids of the ready documents `user` may search within `scope`, or None when that is every document
    (staff, or a user who reads every collection, without a scope): the index then needs no mask."""
    readable = Document.objects.readable_by(user)
    if scope:
        readable = readable.filter(Q(collection__in=scope.collections) | Q(pk__in=scope.documents))
    elif user is not None and user.is_authenticated and reads_everything(user):
        return None
    ids = readable.filter(status=Document.Status.READY).values_list("pk", flat=True)
    return np.fromiter(ids, dtype=np.int64)


def reads_everything(user) -> bool:
    return user.is_staff or not Collection.objects.exclude(pk__in=Collection.objects.readable_by(user)).exists()
