import sys

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from tqdm import tqdm

from knowledge import services
from knowledge.embeddings import get_embedder
from knowledge.models import Document


class Command(BaseCommand):
    help = ("Re-chunk and re-embed every ready document with the active embedding backend, and count its "
            "chunks' search terms again (after changing EMBEDDING_BACKEND, the embedding model, CHUNK_SIZE, "
            "CHUNK_OVERLAP or the tokeniser).")

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true",
                            help="Also retry documents marked failed that still have extracted text.")

    def handle(self, *args, failed, **options):
        statuses = [Document.Status.READY, Document.Status.FAILED] if failed else [Document.Status.READY]
        documents = Document.objects.filter(status__in=statuses).exclude(text="").order_by("pk")
        total = documents.aggregate(n=Sum("chunk_count"))["n"] or 0
        self.stdout.write(f"Re-embedding {documents.count()} document(s), {total} chunk(s) now, "
                          f"with {get_embedder().model}.")
        done, errors = 0, []
        with tqdm(total=total, unit="chunk", desc="Re-embedding", file=sys.stderr, disable=None) as progress:
            for pk in documents.values_list("pk", flat=True):
                document = Document.objects.get(pk=pk)  # one text in memory at a time
                before = document.chunk_count
                try:
                    services.document_reembed(document=document)
                    done += 1
                except services.IngestError as exc:
                    errors.append(f"#{document.pk} {document.title}: {exc}")
                progress.update(before)
        for error in errors:
            self.stderr.write(f"  failed  {error}")
        self.stdout.write(f"Re-embedded {done} document(s); failed {len(errors)}.")
        if errors:
            raise CommandError(f"{len(errors)} document(s) could not be re-embedded.")
