"""The queue's side of ingestion: the tasks a worker runs, queueing them, and finding work a dead worker left.

The queue is Django's task framework (`django_tasks`, the backport of Django 6's `django.tasks`) with its
database backend (`django_tasks_db`): a job is a row in the same database, `manage.py worker` takes rows
one at a time (SELECT ... FOR UPDATE SKIP LOCKED on MariaDB, an exclusive transaction on SQLite). The
document itself says how far its job got (knowledge/lease.py), so the queue needs no more than to deliver.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from knowledge.models import Document

log = logging.getLogger(__name__)


@task()
def process_document(document_id: int) -> str:
    """Read, chunk and embed a pending document (knowledge/processing.py)."""
    from knowledge.processing import document_process

    document = document_process(document_id=document_id, background=True)
    return document.status if document else "not processed"


@task()
def reembed_document(document_id: int) -> str:
    """Re-chunk and re-embed a document's stored text with the active embedding backend."""
    from knowledge.services import IngestError, document_reembed

    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return "gone"
    try:
        document_reembed(document=document)
    except IngestError as exc:
        return f"failed: {exc}"
    return "ready"


def enqueue_processing(document: Document) -> None:
    """Queue the document's job once the current transaction commits (so the worker finds the document)."""
    def enqueue():
        result = process_document.enqueue(document.pk)
        Document.objects.filter(pk=document.pk).update(task_id=result.id)

    transaction.on_commit(enqueue)


def enqueue_reembed(document: Document) -> None:
    transaction.on_commit(lambda: reembed_document.enqueue(document.pk))


def drop_queued(document: Document) -> None:
    """Forget the document's job if no worker has taken it yet."""
    _task_rows(document.task_id).filter(status=TaskResultStatus.READY).delete()


def recover_stalled() -> int:
    """Queue again the documents whose job died (a worker killed mid-document stops beating), or fail them
    after INGEST_MAX_ATTEMPTS; queue pending documents whose job got lost. Returns how many were handled."""
    cutoff = timezone.now() - timedelta(seconds=settings.INGEST_STALLED_AFTER)
    handled = 0
    for document in Document.objects.filter(status=Document.Status.PROCESSING, heartbeat_at__lt=cutoff):
        # The dead job's row would say `running` for ever.
        _task_rows(document.task_id).filter(status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED, finished_at=timezone.now(),
            exception_class_path="knowledge.jobs.WorkerLost", traceback="The worker stopped while running this job.")
        mine = Document.objects.filter(pk=document.pk, status=Document.Status.PROCESSING,
                                       job_token=document.job_token)
        if document.attempts >= settings.INGEST_MAX_ATTEMPTS:
            reason = (f"Processing stopped {document.attempts} times before it finished (the worker was stopped "
                      f"or ran out of memory); it was not tried again.")
            if mine.update(status=Document.Status.FAILED, stage="", job_token="", error=reason,
                           error_kind="ExtractionFailed", updated_at=timezone.now()):
                document.chunks.all().delete()
                handled += 1
                log.warning("Document %s failed: %s", document.pk, reason)
        elif mine.update(status=Document.Status.PENDING, stage=Document.Stage.QUEUED, job_token="",
                         heartbeat_at=timezone.now()):
            enqueue_processing(document)
            handled += 1
            log.warning("Document %s: its worker stopped mid-way; queued again", document.pk)
    for document in Document.objects.filter(status=Document.Status.PENDING, heartbeat_at__lt=cutoff):
        waiting = _task_rows(document.task_id).filter(status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING])
        if not waiting.exists():
            enqueue_processing(document)
            handled += 1
    return handled


def _task_rows(task_id: str):
    if not task_id:
        return DBTaskResult.objects.none()
    try:
        return DBTaskResult.objects.filter(id=task_id)
    except ValidationError:
        return DBTaskResult.objects.none()
