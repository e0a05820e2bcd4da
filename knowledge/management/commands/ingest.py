import logging
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from knowledge import services


def collect_files(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named, and files under folders named (recursively, skipping hidden files and folders), sorted."""
    files: list[Path] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(
                p for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ))
        elif path.is_file():
            files.append(path)
        else:
            missing.append((raw, "No such file or folder."))
    return files, missing


class Command(BaseCommand):
    help = "Ingest files and folders into the knowledge base: extract, chunk, embed and store them."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH",
                            help="Files or folders; folders are read recursively, hidden files skipped.")
        parser.add_argument("--title", default="",
                            help="Title for the document (only with a single file; default: the file name).")

    def handle(self, *args, paths, title, **options):
        files, failed = collect_files(paths)
        if title and len(files) > 1:
            raise CommandError("--title names one document: give a single file with it.")
        ingested, duplicates = [], []
        # The summary below names every file; the service's own log line per document would say it twice.
        if options["verbosity"] < 2:
            logging.getLogger(services.__name__).setLevel(logging.WARNING)
        # The bar goes to stderr and only on a terminal; log lines print above it instead of breaking it.
        with logging_redirect_tqdm(), tqdm(files, unit="file", desc="Ingesting", file=sys.stderr,
                                           disable=not files or None) as progress:
            for path in progress:
                progress.set_postfix_str(path.name[-40:], refresh=False)
                try:
                    if path.stat().st_size > settings.DOCUMENT_MAX_BYTES:
                        raise services.too_large()
                    document = services.document_ingest(data=path.read_bytes(), filename=path.name, title=title,
                                                        keep_failed=True)
                except services.DuplicateDocument as exc:
                    duplicates.append((str(path), exc.existing))
                except services.IngestError as exc:
                    failed.append((str(path), str(exc)))
                except OSError as exc:
                    failed.append((str(path), f"Could not read the file: {exc.strerror or exc}"))
                else:
                    ingested.append((str(path), document))

        for name, document in ingested:
            self.stdout.write(f"  ingested   {name} -> #{document.pk} ({document.chunk_count} chunks)")
        for name, existing in duplicates:
            self.stdout.write(f"  duplicate  {name} = #{existing.pk} {existing.title}")
        for name, reason in failed:
            self.stderr.write(f"  failed     {name}: {reason}")
        self.stdout.write(f"Ingested {len(ingested)}, duplicates skipped {len(duplicates)}, failed {len(failed)}.")
        if failed:
            raise CommandError(f"{len(failed)} file(s) failed.")
