"""The one row that tells every search index what to serve and whether anything changed (IndexState).

Before each query an index reads `(version, active_model)` with one primary-key lookup. Whatever changes
the searchable set (a document becoming ready, changing or going away; the active embedding model being
switched) gives `version` a new value in the same transaction, so the next query in any process sees it.

Document saves and deletes do that by themselves (the signal handlers below), also from the admin and
from another process; code that changes a document's status with `QuerySet.update()` must call
`note_change()` in the same transaction. A transaction that writes chunks or vectors takes the state
row's lock before it touches them (a document's first save or its deletion does), so that writers lock
rows in one order on MySQL/MariaDB and never deadlock each other.
"""

import secrets
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from knowledge.models import Document, IndexState

STATE_ID = 1


class Served(NamedTuple):
    version: int
    active_model: str  # empty: none recorded yet (an empty knowledge base): the configured embedder's


def served() -> Served:
    """What the index serves now: one primary-key lookup (the hot path of every query, so no ORM)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version, active_model FROM {IndexState._meta.db_table} WHERE id = %s", [STATE_ID])
        row = cursor.fetchone()
    if row is None:  # a brand-new (or flushed) database
        state = _create()
        return Served(state.version, state.active_model)
    return Served(int(row[0]), row[1])


def instance() -> str:
    """This database's identity (IndexState.instance): names its index snapshot files."""
    state = IndexState.objects.filter(pk=STATE_ID).values_list("instance", flat=True).first()
    return str(state if state is not None else _create().instance)


def locked() -> IndexState:
    """The state row, locked until the end of the current transaction (MySQL; SQLite's writes are serial
    anyway). Writers that depend on the active or target model read it this way, so that a model switch
    cannot slip in between their check and their commit."""
    state = IndexState.objects.select_for_update().filter(pk=STATE_ID).first()
    return state if state is not None else _create()


def note_change() -> None:
    """Tell every index that the searchable set changed (call inside the transaction that changes it)."""
    if not IndexState.objects.filter(pk=STATE_ID).update(version=_new_version()):
        _create()


def _create() -> IndexState:
    with transaction.atomic():
        state, _ = IndexState.objects.get_or_create(pk=STATE_ID, defaults={"version": _new_version()})
    return state


def _new_version() -> int:
    return secrets.randbits(62) + 1


@receiver(post_save, sender=Document, dispatch_uid="index_state_document_saved")
def _document_saved(sender, instance: Document, update_fields=None, **kwargs) -> None:
    # A save that names its fields and leaves out status (a progress counter, say) changes nothing searched.
    if update_fields is None or "status" in update_fields or "updated_at" in update_fields:
        note_change()


@receiver(pre_delete, sender=Document, dispatch_uid="index_state_document_deleted")
def _document_deleted(sender, instance: Document, **kwargs) -> None:
    # Before the rows go (pre_delete runs first in Django's delete transaction): every writer then locks the
    # state row before the rows of chunks and vectors, in the same order, so none can deadlock another.
    note_change()
