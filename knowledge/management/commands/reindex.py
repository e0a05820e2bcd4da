import sys

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from tqdm import tqdm

from knowledge import services, vectors
from knowledge.embeddings import get_embedder
from knowledge.models import Document
from ragchat.openai_client import ProviderError

SWITCH_ROUNDS = 10  # documents keep arriving without the new model's vectors: give up after this many passes


class Command(BaseCommand):
    help = ("Move the knowledge base to the configured embedding model without downtime: re-embed every chunk "
            "while searches keep using the active model's vectors, then switch in one transaction. With the "
            "configured model already active, re-chunk and re-embed every ready document instead (after "
            "changing CHUNK_SIZE, CHUNK_OVERLAP or the tokeniser).")

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true",
                            help="Also retry documents marked failed that still have extracted text.")
        parser.add_argument("--status", action="store_true",
                            help="Print which model the index serves and the progress of a switch, then exit.")

    def handle(self, *args, failed, status, **options):
        if status:
            return self._status()
        target, active = get_embedder().model, vectors.active_model()
        errors = self._switch(active, target) if target != active else self._rechunk([Document.Status.READY])
        if failed:
            errors += self._rechunk([Document.Status.FAILED])
        if errors:
            raise CommandError(f"{len(errors)} document(s) could not be re-embedded.")

    def _switch(self, active: str, target: str) -> list[str]:
        vectors.start_switch(target)
        progress = vectors.progress()
        left = progress.chunks - progress.embedded
        self.stdout.write(f"Switching the search index from {active} to {target}: {left} of {progress.chunks} "
                          f"chunk(s) to embed. Searches use {active} until it is done.")
        errors: list[str] = []
        with tqdm(total=left, unit="chunk", desc="Embedding", file=sys.stderr,
                  disable=None) as bar:
            for _ in range(SWITCH_ROUNDS):
                for document_id in vectors.documents_missing(target):
                    try:
                        bar.update(vectors.embed_document(document_id=document_id, model=target))
                    except ProviderError as exc:
                        errors.append(f"#{document_id}: {exc}")
                if errors or vectors.switch(target):
                    break
        for error in errors:
            self.stderr.write(f"  failed  {error}")
        if errors:
            self.stdout.write(f"Not switched: searches still use {active}. Run `manage.py reindex` again to resume.")
            return errors
        if vectors.active_model() != target:
            raise CommandError("Documents keep arriving without vectors of the new model; run reindex again.")
        removed = vectors.remove_other_models(target)
        self.stdout.write(f"Switched to {target}; removed {removed} vector(s) of other models.")
        return []

    def _rechunk(self, statuses: list[str]) -> list[str]:
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
        return errors

    def _status(self) -> None:
        progress = vectors.progress()
        self.stdout.write(f"Active model: {progress.active_model or '(none yet)'}")
        if progress.target_model:
            share = progress.embedded / progress.chunks if progress.chunks else 1.0
            self.stdout.write(f"Switching to: {progress.target_model}: {progress.embedded} of {progress.chunks} "
                              f"chunk(s) embedded ({share:.0%}), {progress.documents_left} document(s) left.")
        else:
            self.stdout.write(f"No switch in progress; {progress.chunks} chunk(s) of ready documents.")
        configured = get_embedder().model
        if configured != (progress.active_model or configured) and configured != progress.target_model:
            self.stdout.write(f"The configured model is {configured}: run `manage.py reindex` to switch to it.")
