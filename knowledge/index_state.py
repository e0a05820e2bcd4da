"""The one row that tells every search index what to serve and whether anything changed (IndexState).

Before each query an index reads `(version, active_model)` with one primary-key lookup. Whatever changes
the searchable set (a document becoming ready, changing or going away; the active embedding model being
switched) gives `version` a new value in the same transaction, so the next query in any process sees it.

Document saves and deletes do that by themselves (the signal handlers below), also from the admin and
from another process; code that changes a document's status with `QuerySet.update()` must call
`note_change()` in the same transaction. A transaction that writes chunks or vectors takes the state
row's lock before it touches them (a document's first save or its deletion does), so that writers lock
rows in one order on MySQL/MariaDB and never deadlock each other.

`access_version` changes the same way with who may read what (collections, their groups, the groups'
members, a document's move to another collection: the handlers below and `note_access_change()`), so that a
process may keep what a user can read until it changes (knowledge/scope.py).
"""

import secrets
from typing import NamedTuple

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver

from knowledge.models import Collection, Document, IndexState

STATE_ID = 1


class Served(NamedTuple):
    version: int
    active_model: str  # empty: none recorded yet (an empty knowledge base): the configured embedder's
    access_version: int


def served() -> Served:
    """What the index serves now: one primary-key lookup (the hot path of every query, so no ORM)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version, active_model, access_version FROM {IndexState._meta.db_table} "
                       f"WHERE id = %s", [STATE_ID])
        row = cursor.fetchone()
    if row is None:  # a brand-new (or flushed) database
        state = _create()
        return Served(state.version, state.active_model, state.access_version)
    return Served(int(row[0]), row[1], int(row[2]))


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
    _renew("version")


def note_access_change() -> None:
    """Tell every process that who may read what changed (call inside the transaction that changes it)."""
    _renew("access_version")


def _renew(field: str) -> None:
    if not IndexState.objects.filter(pk=STATE_ID).update(**{field: _new_version()}):
        _create()  # a new row has new values of both


def _create() -> IndexState:
    with transaction.atomic():
        state, _ = IndexState.objects.get_or_create(pk=STATE_ID, defaults={"version": _new_version(),
                                                                     "access_version": _new_version()})
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


# Who may read what: a collection's visibility, owner or groups, a group's members, a group's deletion (which
# removes its memberships without an m2m signal). A user's own is_staff is read with the user on each request.
@receiver(post_save, sender=Collection, dispatch_uid="access_collection_saved")
@receiver(post_delete, sender=Collection, dispatch_uid="access_collection_deleted")
@receiver(post_delete, sender=Group, dispatch_uid="access_group_deleted")
def _access_changed(sender, **kwargs) -> None:
    note_access_change()


@receiver(m2m_changed, sender=Collection.groups.through, dispatch_uid="access_collection_groups")
@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="access_group_members")
def _access_members_changed(sender, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        note_access_change()
