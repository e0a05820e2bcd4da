"""Chunks' vectors per embedding model, and switching the model the index serves without downtime.

The index searches the *active* model's vectors (IndexState.active_model). Ingest stores a chunk's
vectors for every model the index needs: the active one and, while `manage.py reindex` moves to another
model, that target too. Reindexing is a series of steps a job can run one at a time:

    start_switch(model)                  # record the target: new documents get its vectors from now on
    for document in documents_missing(model):
        embed_document(document_id=document, model=model)   # queries keep using the active vectors
    switch(model)                        # one transaction, only if no chunk of a ready document lacks one
    remove_other_models(model)           # the old vectors, in small batches

`switch` is refused while any chunk of a ready document lacks a vector of the new model (a document
ingested before the target was recorded, say): embed those and call it again.
"""

from dataclasses import dataclass

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from knowledge import index_state
from knowledge.embeddings import Embedder, embedder_for_model, get_embedder
from knowledge.lexical import pack_terms
from knowledge.models import Chunk, ChunkTerms, ChunkVector, Document, IndexState
from ragchat.openai_client import ProviderError

EMBED_BATCH = 256
DELETE_BATCH = 2000


def store_chunks(*, document: Document, chunks: list[Chunk], vectors: np.ndarray, model: str) -> None:
    """(Inside the transaction that creates the chunks.) Their term counts, and their vectors for each model
    the index needs: `vectors` are `model`'s; a needed model other than `model` is embedded here (only
    during a model switch, or when the configured model differs from the active one until `reindex`)."""
    ChunkTerms.objects.bulk_create(
        [ChunkTerms(chunk=c, document=document, terms=pack_terms(c.text)) for c in chunks], batch_size=500)
    state = index_state.locked()  # a switch cannot happen between this read and our commit
    if not state.active_model:  # the first vectors of this knowledge base: their model is the active one
        IndexState.objects.filter(pk=state.pk).update(active_model=model, switched_at=timezone.now())
        state.active_model = model
    for needed in dict.fromkeys(m for m in (state.active_model, state.target_model) if m):
        try:
            rows = vectors if needed == model else embed_texts(embedder_for_model(needed), [c.text for c in chunks])
        except ProviderError:
            if needed == state.active_model:
                raise
            continue  # the target's service failed: `reindex` catches this document up before it switches
        _insert(document.pk, [c.pk for c in chunks], rows, needed)


def active_model() -> str:
    """The model whose vectors the index searches (the configured one while none is recorded)."""
    return index_state.served().active_model or get_embedder().model


def chunks_with_vectors(document: Document):
    """A document's chunks, each with `active_vectors`: its vector by the active model (a list of 0 or 1)."""
    vectors = ChunkVector.objects.filter(model=active_model())
    return document.chunks.prefetch_related(Prefetch("vectors", queryset=vectors, to_attr="active_vectors"))


def embed_texts(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """`texts`' vectors by `embedder`, in batches (raises ProviderError when an embedding service fails)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([embedder.embed(texts[i:i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)])


# --- switching the active model ----------------------------------------------------------------------
def start_switch(model: str) -> None:
    """Record `model` as the target: from now on, ingest stores its vectors too."""
    with transaction.atomic():
        index_state.locked()
        IndexState.objects.filter(pk=index_state.STATE_ID).update(target_model=model)


def documents_missing(model: str) -> list[int]:
    """Ready documents with a chunk that has no vector by `model`, oldest first."""
    return list(_chunks_missing(model).values_list("document_id", flat=True).distinct().order_by("document_id"))


def embed_document(*, document_id: int, model: str) -> int:
    """Give each chunk of a document that has no vector by `model` one (a step of a model switch; the
    embedding runs outside any transaction). Returns how many chunks got one."""
    missing = list(_chunks_missing(model, document_id=document_id).order_by("position").values_list("id", "text"))
    if not missing:
        return 0
    matrix = embed_texts(embedder_for_model(model), [text for _, text in missing])
    try:
        with transaction.atomic():
            state = index_state.locked()
            present = set(Chunk.objects.filter(id__in=[cid for cid, _ in missing]).values_list("id", flat=True))
            kept = [i for i, (cid, _) in enumerate(missing) if cid in present]  # re-chunked or deleted meanwhile
            ChunkVector.objects.filter(model=model, chunk_id__in=present).delete()
            _insert(document_id, [missing[i][0] for i in kept], matrix[kept], model)
            if model == state.active_model:  # vectors the index serves: make it reload the document
                Document.objects.filter(pk=document_id).update(updated_at=timezone.now())
                index_state.note_change()
    except IntegrityError:  # the document was deleted between reading and writing
        return 0
    return len(kept)


def switch(model: str) -> bool:
    """Make `model` the active one, in one transaction, if every chunk of every ready document has a vector
    by it; returns whether it switched."""
    with transaction.atomic():
        index_state.locked()
        if _chunks_missing(model).exists():
            return False
        IndexState.objects.filter(pk=index_state.STATE_ID).update(
            active_model=model, target_model="", switched_at=timezone.now())
        index_state.note_change()
    return True


def remove_other_models(model: str) -> int:
    """Delete the vectors of every model but `model` (after a switch), in short transactions."""
    removed = 0
    while True:
        keys = list(ChunkVector.objects.exclude(model=model).values_list("model", "chunk_id")[:DELETE_BATCH])
        if not keys:
            return removed
        condition = Q()
        for name in {name for name, _ in keys}:
            condition |= Q(model=name, chunk_id__in=[cid for n, cid in keys if n == name])
        removed += ChunkVector.objects.filter(condition).delete()[0]


@dataclass(frozen=True)
class Progress:
    active_model: str
    target_model: str
    chunks: int  # chunks of ready documents
    embedded: int  # of which have a vector by the target (or the active model, with no target)
    documents_left: int


def progress() -> Progress:
    """What an operator reads in `manage.py reindex --status`."""
    state = IndexState.objects.filter(pk=index_state.STATE_ID).first()
    active = state.active_model if state else ""
    target = (state.target_model if state else "") or active
    ready = Chunk.objects.filter(document__status=Document.Status.READY)
    counts = ready.aggregate(chunks=Count("id", distinct=True),
                            embedded=Count("id", filter=Q(vectors__model=target), distinct=True))
    return Progress(active, state.target_model if state else "", counts["chunks"], counts["embedded"],
                    len(documents_missing(target)) if target else 0)


def _chunks_missing(model: str, *, document_id: int | None = None):
    chunks = Chunk.objects.filter(document__status=Document.Status.READY)
    if document_id is not None:
        chunks = Chunk.objects.filter(document_id=document_id)
    return chunks.exclude(id__in=ChunkVector.objects.filter(model=model).values("chunk_id"))


def _insert(document_id: int, chunk_ids: list[int], matrix: np.ndarray, model: str) -> None:
    ChunkVector.objects.bulk_create(
        [ChunkVector(model=model, chunk_id=cid, document_id=document_id, vector=ChunkVector.pack(row))
         for cid, row in zip(chunk_ids, matrix, strict=True)],
        batch_size=500,
    )
