"""Reading the search index's rows from the database: ready documents, vectors, term counts and hits.

Vectors and term counts live in narrow tables of their own (ChunkVector, ChunkTerms), read with raw
cursors and no model instances, a chunk's vector and term counts in one row (a join). On MySQL/MariaDB
they are streamed (a server-side cursor), and a cold load of many rows splits the vector table into
ranges of chunk ids read over parallel connections: InnoDB reads pages on one thread per statement, and
the client decodes on the other core.
"""

import ctypes
import mmap
import threading
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from django.db import connection

from knowledge.lexical import is_current_terms, pack_terms, unpack_many
from knowledge.models import Chunk, ChunkTerms, ChunkVector, Document
from knowledge.ranking import Hit
from knowledge.vocabulary import Vocabulary
from ragchat.db import column, table

BATCH = 2000
PARALLEL_OVER = 20_000  # rows: fewer than this load over the one connection
PARALLEL_READERS = 4
# Rows whose term counts are decoded at a time: ~50k entries, so that each step's arrays fit in memory the
# allocator keeps (bigger ones went back to the kernel after every batch and came back as new pages).
TERMS_BATCH = 500
PREFAULT_OVER = 64 * 2**20  # bytes: a matrix this big gets its memory from a thread of its own (_fault_in_meanwhile)
_MADV_POPULATE_WRITE = 23  # Linux 5.14+
_NOT_DIGITS = str.maketrans("", "", "-: .T")


def stamp(updated_at: str) -> int:
    """A document's version as an integer, from its updated_at as the database writes it out
    ("2026-11-25 16:06:21.123456"): its digits without the century, padded to microseconds. Reading the
    text skips building a datetime per document, which was most of the time of noticing a new document."""
    digits = updated_at.translate(_NOT_DIGITS)[2:]
    return int(digits[:18].ljust(18, "0"))


def ready_documents() -> dict[int, int]:
    """{document id: version stamp} of every ready document (served by the document_ready_sync index)."""
    table = Document._meta.db_table
    text = "CAST(updated_at AS CHAR)" if connection.vendor == "mysql" else "CAST(updated_at AS TEXT)"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {text} FROM {table} WHERE status = %s", [Document.Status.READY])
        return {doc_id: stamp(updated) for doc_id, updated in cursor.fetchall()}


class Terms(NamedTuple):
    """Rows' term counts: row rows[i] holds the next sizes[i] (column, count) pairs; hashes[column] is the term's
    hash (sorted). `Postings.from_columns` takes them."""

    rows: np.ndarray
    sizes: np.ndarray
    columns: np.ndarray
    counts: np.ndarray
    hashes: np.ndarray


class StoredRows:
    """Rows read from ChunkVector: chunk ids, their documents and the vectors (float32, one row each); with
    `lexical`, also each row's term counts from ChunkTerms, read in the same query, so they line up. Given a
    vocabulary, the terms are numbered as they arrive (a cold load); else their hashes are kept (a few new
    documents: the BM25 index places them itself)."""

    def __init__(self, dims: int, capacity: int, *, lexical: bool = False, vocabulary: Vocabulary | None = None):
        self.dims = dims
        self.chunk_ids = np.zeros(capacity, dtype=np.int64)
        self.documents = np.zeros(capacity, dtype=np.int64)
        self.matrix = np.empty((capacity, dims), dtype=np.float32)
        if self.matrix.nbytes >= PREFAULT_OVER:
            _fault_in_meanwhile(self.matrix)
        self.n = 0
        self.lexical = lexical
        self.vocabulary = vocabulary
        # (rows, sizes, vocabulary numbers or hashes, counts), a part per batch
        self._terms: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._untermed: list[int] = []  # rows without current term counts
        self._lock = threading.Lock()

    def take(self, rows: list[tuple], keep: set[int] | None) -> None:
        """Copy a batch of (chunk_id, document_id, vector blob[, terms blob]) rows into place (any thread)."""
        rows = [r for r in rows if (keep is None or r[1] in keep) and len(r[2]) == 4 * self.dims]
        with self._lock:  # reserve a slice; the copies run outside the lock (numpy releases the GIL)
            start = self.n
            if start + len(rows) > len(self.chunk_ids):
                self._grow(start + len(rows))
            self.n += len(rows)
            matrix, ids, docs = self.matrix, self.chunk_ids, self.documents
        block = matrix[start:start + len(rows)]
        for i, row in enumerate(rows):  # one copy per blob, straight into place
            block[i] = np.frombuffer(row[2], dtype="<f4")
        ids[start:start + len(rows)] = [r[0] for r in rows]
        docs[start:start + len(rows)] = [r[1] for r in rows]
        if self.lexical:
            for at in range(0, len(rows), TERMS_BATCH):
                self._take_terms(start + at, [r[3] for r in rows[at:at + TERMS_BATCH]])

    def _take_terms(self, start: int, blobs: list) -> None:
        current = [i for i, blob in enumerate(blobs) if is_current_terms(blob)]
        if len(current) < len(blobs):
            untermed = sorted(set(range(len(blobs))) - set(current))
            with self._lock:
                self._untermed.extend(start + i for i in untermed)
        if current:
            sizes, hashes, counts = unpack_many([blobs[i] for i in current])
            part = (start + np.asarray(current, dtype=np.int64), sizes, self._numbered(hashes), counts)
            with self._lock:
                self._terms.append(part)

    def _numbered(self, hashes: np.ndarray) -> np.ndarray:
        return self.vocabulary.ids(hashes) if self.vocabulary is not None else hashes

    def terms(self) -> "Terms":
        """Every row's term counts (read with a vocabulary), in row order where the database held current ones;
        a row without them is tokenised from its text. Each batch's numbers become columns as they are put in
        place."""
        parts = self._parts()
        hashes, column_of = self.vocabulary.columns()
        columns = np.empty(sum(len(part[2]) for part in parts), dtype=np.int32)
        at = 0
        for _, _, ids, _ in parts:  # straight into place: no array of all the numbers beside all the columns
            columns[at:at + len(ids)] = column_of[ids]
            at += len(ids)
        if not parts:
            return Terms(np.zeros(0, np.int64), np.zeros(0, np.int64), columns, np.zeros(0, np.uint16), hashes)
        rows, sizes, counts = (np.concatenate([part[i] for part in parts]) for i in (0, 1, 3))
        return Terms(rows, sizes, columns, counts, hashes)

    def hashed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every row's term counts as (rows, terms per row, hashes, counts), the form `BM25Rows.add` takes."""
        if self.vocabulary is not None:
            terms = self.terms()
            return terms.rows, terms.sizes, terms.hashes[terms.columns], terms.counts
        parts = self._parts()
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.uint16)
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))

    def _parts(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        if self._untermed:
            self._tokenise(self._untermed)
            self._untermed = []
        return sorted(self._terms, key=lambda part: int(part[0][0]))

    def _tokenise(self, rows: list[int]) -> None:
        """Term counts of chunks stored before term counts were, or by an older tokeniser, from their text."""
        for start in range(0, len(rows), 500):
            batch = rows[start:start + 500]
            texts = dict(Chunk.objects.filter(id__in=self.chunk_ids[batch].tolist()).values_list("id", "text"))
            batch = [row for row in batch if int(self.chunk_ids[row]) in texts]
            if batch:
                sizes, hashes, counts = unpack_many([pack_terms(texts[int(self.chunk_ids[r])]) for r in batch])
                self._terms.append((np.asarray(batch, np.int64), sizes, self._numbered(hashes), counts))

    def trimmed(self) -> "StoredRows":
        if self.n < len(self.chunk_ids):
            self.chunk_ids, self.documents = self.chunk_ids[:self.n], self.documents[:self.n]
            self.matrix = self.matrix[:self.n]
        return self

    def _grow(self, needed: int) -> None:
        capacity = max(needed, len(self.chunk_ids) + len(self.chunk_ids) // 4, 1024)
        matrix = np.empty((capacity, self.dims), dtype=np.float32)
        matrix[:self.n] = self.matrix[:self.n]
        self.matrix = matrix
        self.chunk_ids = np.concatenate([self.chunk_ids[:self.n], np.zeros(capacity - self.n, np.int64)])
        self.documents = np.concatenate([self.documents[:self.n], np.zeros(capacity - self.n, np.int64)])


def read_rows(model: str, documents: list[int] | None, keep: set[int], *, dims: int = 0,
              lexical: bool = False) -> StoredRows:
    """The vectors by `model` of these documents' chunks (None: of every document, a cold load), keeping only
    rows of documents in `keep`; with `lexical`, their term counts too. `dims`: the model's, if known (else read
    from its first vector). Term counts come in the same rows as the vectors (a join on the chunk): a cold load
    reads them over the same parallel connections, and they need no matching to the vectors' rows."""
    vectors, terms = table(ChunkVector), table(ChunkTerms)
    chunk = column(ChunkVector, "chunk")
    select = (f"SELECT v.{chunk}, v.{column(ChunkVector, 'document')}, v.{column(ChunkVector, 'vector')}"
              + (f", t.{column(ChunkTerms, 'terms')}" if lexical else "") + f" FROM {vectors} v"
              + (f" LEFT JOIN {terms} t ON t.{column(ChunkTerms, 'chunk')} = v.{chunk}" if lexical else "")
              + f" WHERE v.{column(ChunkVector, 'model')} = %s")
    dims = dims or _dims(model)
    if documents is not None:
        placeholders = ", ".join(["%s"] * len(documents))
        rows = StoredRows(dims, 256 * len(documents), lexical=lexical)  # room for typical documents' rows
        for batch in _batches(f"{select} AND v.{column(ChunkVector, 'document')} IN ({placeholders})",
                              [model, *documents]):
            rows.take(batch, keep)
        return rows.trimmed()
    # Room for every chunk (a model has at most one vector per chunk): counting the chunks reads a small index,
    # counting the model's vectors would read the vectors. (The matrix's pages are faulted in ahead of the readers,
    # so rows never filled, of chunks without a vector by this model, hold memory too until the next base.)
    count = Chunk.objects.count()
    rows = StoredRows(dims, count, lexical=lexical, vocabulary=Vocabulary() if lexical else None)
    ranges = _chunk_ranges(model, count)
    if len(ranges) == 1:
        if connection.vendor == "sqlite":  # its table is in insertion order: a plain scan, not index lookups
            select = select.replace(f"FROM {vectors} v", f"FROM {vectors} v NOT INDEXED")
        for batch in _batches(select, [model]):
            rows.take(batch, keep)
        return rows.trimmed()
    sql = f"{select} AND v.{chunk} >= %s AND v.{chunk} < %s"
    _in_parallel([(sql, [model, low, high]) for low, high in ranges], lambda batch: rows.take(batch, keep))
    return rows.trimmed()


def fetch_hits(chunk_ids: list[int], scores: list[float], cosines: list[float]) -> list[Hit]:
    """The hits' rows, in the given order; a chunk whose document is no longer ready is left out. One query,
    written out: it runs on every search, and building it through the ORM cost more than running it."""
    if not chunk_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_hits_sql(len(chunk_ids)), [*chunk_ids, Document.Status.READY])
        rows = {row[0]: row for row in cursor.fetchall()}
    return [
        Hit(chunk_id=cid, document_id=rows[cid][1], document_title=rows[cid][2], score=round(score, 4),
            cosine=round(cosine, 4), text=rows[cid][3], page=rows[cid][4], position=rows[cid][5])
        for cid, score, cosine in zip(chunk_ids, scores, cosines, strict=True) if cid in rows
    ]


@lru_cache(maxsize=64)
def _hits_sql(count: int) -> str:
    # CROSS JOIN: SQLite then reads the chunks by primary key first (MySQL takes it as JOIN). With ~20 ids or
    # more its planner read every ready document by the status index instead: 0.05 -> 0.8 ms at 200 documents.
    fields = ", ".join([f"c.{column(Chunk, 'id')}", f"c.{column(Chunk, 'document')}", f"d.{column(Document, 'title')}",
                        *(f"c.{column(Chunk, name)}" for name in ("text", "page", "position"))])
    return (f"SELECT {fields} FROM {table(Chunk)} c CROSS JOIN {table(Document)} d ON d.{column(Document, 'id')} = "
            f"c.{column(Chunk, 'document')} WHERE c.{column(Chunk, 'id')} IN ({', '.join(['%s'] * count)}) "
            f"AND d.{column(Document, 'status')} = %s")


def _fault_in_meanwhile(array: np.ndarray) -> None:
    """Have the kernel back `array` with memory from a thread of its own, ahead of the readers that fill it.

    A new matrix's first write to each page makes the kernel find and clear a page; a reader thread copying
    a vector holds the GIL meanwhile, so every other reader waited too. At 100k x 1,536 that was a second or
    more of a cold load on this kind of machine (clear_page_erms was the top of the profile). madvise runs
    without the GIL and changes no data, so it may overlap the readers' writes; where it is unsupported, the
    readers fault the pages in as before."""
    def populate() -> None:
        try:
            madvise = ctypes.CDLL(None, use_errno=True).madvise
        except (OSError, AttributeError):
            return
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        start = -(-array.ctypes.data // mmap.PAGESIZE) * mmap.PAGESIZE
        end = array.ctypes.data + array.nbytes
        step = 32 * 2**20
        for offset in range(start, end, step):
            if madvise(offset, min(step, end - offset), _MADV_POPULATE_WRITE) != 0:
                return

    threading.Thread(target=populate, daemon=True, name="ragchat-index-prefault").start()


def _dims(model: str) -> int:
    # Ordered by chunk alone: MariaDB sorts the whole model's rows for ORDER BY model, chunk_id (the key).
    blob = ChunkVector.objects.filter(model=model).order_by("chunk_id").values_list("vector", flat=True).first()
    return len(blob) // 4 if blob is not None else 0


def _chunk_ranges(model: str, count: int) -> list[tuple[int, int]]:
    """Ranges of chunk ids that split `model`'s vectors evenly, when a parallel read pays; else one."""
    if count < PARALLEL_OVER or connection.vendor != "mysql" or connection.in_atomic_block:
        return [(0, 0)]  # other connections would not see this transaction's rows
    ids = ChunkVector.objects.filter(model=model)
    low, high = ids.order_by("chunk_id").values_list("chunk_id", flat=True).first(), \
        ids.order_by("-chunk_id").values_list("chunk_id", flat=True).first()
    edges = np.linspace(low, high + 1, PARALLEL_READERS + 1).astype(np.int64).tolist()
    return list(zip(edges[:-1], edges[1:], strict=True))


def _batches(sql: str, params: list, *, raw=None):
    """Rows in batches, streamed where the driver can (MySQL: a server-side cursor), so that copying overlaps
    the transfer and no second copy of every blob is held at once."""
    if raw is None:
        connection.ensure_connection()
        raw = connection.connection
    if connection.vendor == "mysql":
        from MySQLdb.cursors import SSCursor

        cursor = raw.cursor(SSCursor)
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql if connection.vendor == "mysql" else sql.replace("%s", "?"), params)
        while rows := cursor.fetchmany(BATCH):
            yield rows
    finally:
        cursor.close()


def _in_parallel(queries: list[tuple[str, list]], take) -> None:
    """Run each query on a connection of its own, in threads, handing every batch to `take`."""
    errors: list[BaseException] = []

    def read(sql: str, params: list) -> None:
        raw = connection.get_new_connection(connection.get_connection_params())
        try:
            for batch in _batches(sql, params, raw=raw):
                take(batch)
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)
        finally:
            raw.close()

    threads = [threading.Thread(target=read, args=query, daemon=True) for query in queries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
