import logging
import sys
import time

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from knowledge import folders, services
from knowledge.models import Collection, Document
from knowledge.processing import document_process

log = logging.getLogger(__name__)
WAIT_POLL_SECONDS = 0.5
NO_WORKER_HINT_SECONDS = 15


class Command(BaseCommand):
    help = ("Add files and folders to the knowledge base: each file is queued as a document for the worker "
            "(`manage.py worker`) to read, chunk and embed; --wait waits for them, --inline does the work here.")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH",
                            help="Files or folders; folders are read recursively, hidden files skipped.")
        parser.add_argument("--title", default="",
                            help="Title for the document (only with a single file; default: the file name).")
        parser.add_argument("--collection", metavar="NAME", default="",
                            help="The collection the documents go to (default: the default collection). It must "
                                 "exist, unless --create is given; --sync and --prune stay inside it.")
        parser.add_argument("--create", action="store_true",
                            help="With --collection: create it if missing, readable by staff and the --group(s) "
                                 "only (open it to everyone in the admin if you mean to).")
        parser.add_argument("--group", action="append", default=[], metavar="GROUP",
                            help="With --create: a group whose members read the new collection (repeatable).")
        parser.add_argument("--sync", action="store_true",
                            help="Bring the knowledge base in line with the files: add new ones, replace changed "
                                 "ones (the old version stays searchable until the new one is ready).")
        parser.add_argument("--prune", action="store_true",
                            help="With --sync: delete the documents whose file is gone from the folders given.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--wait", action="store_true",
                          help="Wait until the worker has processed every queued document, showing progress.")
        mode.add_argument("--inline", action="store_true",
                          help="Process each document here, one after another, instead of queueing it.")

    def handle(self, *args, paths, title, sync, prune, wait, inline, **options):
        if prune and not sync:
            raise CommandError("--prune goes with --sync.")
        self.collection = self._collection(options["collection"], create=options["create"],
                                           groups=options["group"])
        files, missing = folders.collect_files(paths)
        if title and len(files) > 1:
            raise CommandError("--title names one document: give a single file with it.")
        self.report = _Report(sync=sync, done=wait or inline)
        self.report.failed.extend(missing)
        # The summary below names every file; the services' own log lines per document would say it twice.
        if options["verbosity"] < 2:
            for name in ("knowledge.services", "knowledge.processing"):
                logging.getLogger(name).setLevel(logging.WARNING)
        kept = {folders.source_key(path) for path in files}
        # The bar goes to stderr and only on a terminal; log lines print above it instead of breaking it.
        with logging_redirect_tqdm(), tqdm(files, unit="file", desc="Ingesting" if inline else "Queueing",
                                           file=sys.stderr, disable=not files or None) as progress:
            for path in progress:
                progress.set_postfix_str(path.name[-40:], refresh=False)
                self._submit(path, title=title, sync=sync, inline=inline)
        if prune:
            self.report.removed.extend(folders.prune(paths, kept, collection=self.collection))
        if wait:
            self._wait()
        self.report.write(self.stdout, self.stderr)
        if self.report.failed:
            raise CommandError(f"{len(self.report.failed)} file(s) failed.")

    def _collection(self, name: str, *, create: bool, groups: list[str]) -> Collection:
        """The named collection (refusing a typo rather than creating it), or the default one."""
        name = " ".join(name.split())
        if (create or groups) and not name:
            raise CommandError("--create and --group go with --collection NAME.")
        if groups and not create:
            raise CommandError("--group names who reads a collection --create makes; change an existing "
                               "collection's groups in the admin.")
        if not name:
            return Collection.objects.default()
        if len(name) > Collection._meta.get_field("name").max_length:
            raise CommandError("A collection's name has at most 100 characters.")
        collection = Collection.objects.filter(name__iexact=name).first()
        if collection is not None:
            return collection
        if not create:
            existing = ", ".join(Collection.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No collection named “{name}” (existing: {existing}). "
                               "Add --create to create it.")
        found = list(Group.objects.filter(name__in=groups))
        unknown = sorted(set(groups) - {g.name for g in found})
        if unknown:
            raise CommandError(f"No such group: {', '.join(unknown)}.")
        collection = Collection.objects.create(name=name, visibility=Collection.Visibility.GROUPS)
        collection.groups.set(found)
        readers = ", ".join(g.name for g in found) or "nobody but staff"
        self.stdout.write(f"Created the collection “{name}”, readable by {readers}.")
        return collection

    def _submit(self, path, *, title: str, sync: bool, inline: bool) -> None:
        name = str(path)
        try:
            submitted = folders.submit_file(path, collection=self.collection, title=title, sync=sync,
                                            enqueue=not inline)
            if submitted.outcome != folders.UNCHANGED and inline:
                document = document_process(document_id=submitted.document.pk)
                if document is not None and document.status == Document.Status.FAILED:
                    self.report.failed.append((name, document.error))
                    return
        except services.DuplicateDocument as exc:
            self.report.duplicates.append((name, exc.existing))
        except services.IngestError as exc:
            self.report.failed.append((name, str(exc)))
        except OSError as exc:
            self.report.failed.append((name, f"Could not read the file: {exc.strerror or exc}"))
        except Exception as exc:  # one file's bug must not cost the others their turn or the summary
            log.exception("Ingesting %s failed", name)
            self.report.failed.append((name, f"Unexpected error ({type(exc).__name__}); see the log."))
        else:
            self.report.submitted.append((name, submitted))

    def _wait(self) -> None:
        """Follow the queued documents until each is ready, failed or gone, with a bar of documents done."""
        waiting = {s.document.pk: name for name, s in self.report.submitted if s.outcome != folders.UNCHANGED}
        started, hinted = time.monotonic(), False
        with tqdm(total=len(waiting), unit="doc", desc="Processing", file=sys.stderr,
                  disable=not waiting or None) as progress:
            while waiting:
                rows = dict(Document.objects.filter(pk__in=waiting).values_list("pk", "status"))
                finished = [pk for pk in waiting if rows.get(pk) in (None, Document.Status.READY,
                                                                     Document.Status.FAILED)]
                for pk in finished:
                    name = waiting.pop(pk)
                    document = Document.objects.filter(pk=pk).first()
                    if document is None:
                        self.report.failed.append((name, "The document was deleted before it was processed."))
                    elif document.status == Document.Status.FAILED:
                        self.report.failed.append((name, document.error))
                    progress.update(1)
                if not finished and not hinted and time.monotonic() - started > NO_WORKER_HINT_SECONDS \
                        and not any(status == Document.Status.PROCESSING for status in rows.values()):
                    hinted = True
                    tqdm.write("No worker has started on these documents yet: is `manage.py worker` running?",
                               file=sys.stderr)
                if waiting:
                    time.sleep(WAIT_POLL_SECONDS)


class _Report:
    def __init__(self, *, sync: bool, done: bool):
        self.sync, self.done = sync, done
        self.submitted: list[tuple[str, folders.Submitted]] = []
        self.duplicates: list[tuple[str, Document]] = []
        self.removed: list[Document] = []
        self.failed: list[tuple[str, str]] = []

    def write(self, stdout, stderr) -> None:
        failed = {name for name, _ in self.failed}
        counts = {folders.ADDED: 0, folders.REPLACED: 0, folders.UNCHANGED: 0}
        for name, submitted in self.submitted:
            if name in failed:
                continue
            counts[submitted.outcome] += 1
            document = Document.objects.filter(pk=submitted.document.pk).first() or submitted.document
            verb = "ingested" if self.done and not self.sync else submitted.outcome
            if submitted.outcome == folders.UNCHANGED:
                stdout.write(f"  unchanged  {name} = #{document.pk}")
            elif self.done:
                was = f", was #{submitted.replaced.pk}" if submitted.replaced else ""
                stdout.write(f"  {verb:<10} {name} -> #{document.pk} ({document.chunk_count} chunks{was})")
            else:
                stdout.write(f"  queued     {name} -> #{document.pk} ({submitted.outcome})")
        for name, existing in self.duplicates:
            stdout.write(f"  duplicate  {name} = #{existing.pk} {existing.title}")
        for document in self.removed:
            stdout.write(f"  removed    {document.source_path} (#{document.pk} {document.title})")
        for name, reason in self.failed:
            stderr.write(f"  failed     {name}: {reason}")
        if self.sync:
            line = (f"Added {counts[folders.ADDED]}, replaced {counts[folders.REPLACED]}, unchanged "
                    f"{counts[folders.UNCHANGED]}, removed {len(self.removed)}, failed {len(self.failed)}")
            if self.duplicates:
                line += f", duplicates skipped {len(self.duplicates)}"
            stdout.write(line + ("." if self.done else "; the worker processes what was queued."))
        else:
            verb = "Ingested" if self.done else "Queued"
            stdout.write(f"{verb} {counts[folders.ADDED]}, duplicates skipped {len(self.duplicates)}, "
                         f"failed {len(self.failed)}.")
