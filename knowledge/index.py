"""The in-memory search index over chunks of ready documents (DESIGN.md "Retrieval").

Each process holds the active embedding model's vectors in one normalised float32 matrix, loaded from the
database once and then kept current: before every query, `sync` compares the ready documents'
(id, updated_at) with what it holds, loads only the chunks of documents that are new or changed and drops
the rows of documents that are gone. So a document ingested by this process, another web worker, the admin
or `manage.py ingest` elsewhere is seen by the next query, and a deleted one never again. Ingest needs to
send no signal: it bumps Document.updated_at whenever a document's chunks or status change.

A query is one matrix-vector product and a partial sort (np.argpartition), fused with a BM25 ranking over the
same rows (knowledge/lexical.py): exact terms (names, error codes) matter in a knowledge base, and a small
embedding model misses some. Fusion: the best FUSION_DEPTH chunks of each ranking are the candidates; each
score (cosine, BM25) is standardised over the candidates (z-score) and the two are added with weights
VECTOR_WEIGHT and 1 - VECTOR_WEIGHT. With the hashed (non-semantic) embedder the query vector's words are
weighted by idf too, and a chunk must share a word with the query. Hit.score is the cosine of query and
chunk; RAG_MIN_SCORE applies to it.

Rows are kept in a preallocated matrix: new rows are appended in place, removed rows are masked and zeroed,
and the matrix is compacted once a quarter of it is dead, so that seeing one new document costs the rows
of that document, not a reload.
"""

import threading
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from django.db import connection
from django.db.models import Count, Max, Sum

from knowledge.embeddings import embedder_for_model, get_embedder
from knowledge.lexical import BM25Rows, is_current_terms, pack_terms, terms, unpack_many
from knowledge.models import Chunk, Document

# Score fusion (a convex combination of standardised scores; Bruch et al. 2023 find it ahead of reciprocal rank
# fusion once its weight is tuned). VECTOR_WEIGHT was chosen on the dev half of every set of
# bench/retrieval_quality.py (mean nDCG@10 over question- and keyword-style sets) and checked on the other half.
# Unlike ranks, z-scores keep how far a chunk stands above the rest: a clear BM25 winner (a quoted phrase, an
# error code) survives a vague vector ranking, and the reverse.
VECTOR_WEIGHT = 0.5
FUSION_DEPTH = 100  # candidates taken from each ranking (at least 4 k)
SCAN_OVER_DOCUMENTS = 500  # more new documents than this (a cold start): scan the chunk table once


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: int
    document_title: str
    score: float  # cosine similarity of the query and the chunk
    text: str
    page: int | None
    position: int


class ChunkIndex:
    def __init__(self, *, lexical: bool = True, model: str | None = None):
        """`model`: index this embedding model's rows instead of the active embedder's (benchmarks)."""
        self._lock = threading.Lock()
        self._use_lexical = lexical
        self._fixed_model = model
        self._reset(model="")

    def _reset(self, model: str) -> None:
        self._model = model
        self._dims = 0
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._chunk_ids = np.zeros(0, dtype=np.int64)
        self._n = 0  # rows in use (live or dead)
        self._dead = 0
        self._docs: dict[int, tuple[object, np.ndarray]] = {}  # document id -> (updated_at, its rows)
        self._fingerprint: tuple | None = None
        self._lexical = BM25Rows() if self._use_lexical else None

    # --- queries ------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, *, min_score: float | None = None) -> list[Hit]:
        """The k chunks that best match `query`, best first; with min_score, weaker matches are dropped."""
        if not query.strip():
            return []
        embedder = self._embedder()
        with self._lock:  # one sync serves both the query's word weights and the ranking
            self.sync()
            weights = self._query_weights(query, embedder)
            snapshot = self._snapshot(query)
        return self._rank(snapshot, embedder.embed_query(query, weights), k, min_score=min_score,
                          need_shared_word=not embedder.semantic)

    def query_vector(self, query: str) -> np.ndarray:
        """The vector `search` ranks by: the embedder's, with words weighted by idf where it can."""
        embedder = self._embedder()
        with self._lock:
            self.sync()
            weights = self._query_weights(query, embedder)
        return embedder.embed_query(query, weights)

    def search_vector(self, vector: np.ndarray, k: int = 5, *, text: str | None = None,
                      min_score: float | None = None, need_shared_word: bool = False) -> list[Hit]:
        """Rank by `vector` (and, given `text`, by BM25 too, fused). Benchmarks pass a vector directly.

        need_shared_word: drop chunks that share no word with `text` (see Embedder.semantic).
        """
        with self._lock:
            self.sync()
            snapshot = self._snapshot(text)
        return self._rank(snapshot, vector, k, min_score=min_score, need_shared_word=need_shared_word)

    def _embedder(self):
        """The embedder of the model this index holds (a fixed model's, or the configured one)."""
        return embedder_for_model(self._fixed_model) if self._fixed_model else get_embedder()

    def _query_weights(self, query: str, embedder) -> dict[str, float] | None:
        """(Lock held.) Each query word's idf, for an embedder that cannot weigh words itself; else None."""
        if self._lexical is None or embedder.semantic:
            return None
        # Hashed vectors cannot tell rare words from common ones; the BM25 statistics can.
        words = terms(query)
        weights = {term: self._lexical.idf(term) for term in words if self._lexical.holds(term)}
        # A word no chunk holds counts like the query's rarest known word: as the rarest known word
        # on a big knowledge base, and neutral on a tiny one, where idf says little.
        unknown = max(weights.values(), default=1.0)
        weights.update({term: unknown for term in words if term not in weights})
        return weights

    def _snapshot(self, text: str | None) -> "_Snapshot":
        """(Lock held.) What one ranking reads: rows appended later or a compaction do not disturb it."""
        lexical = self._lexical.scores(text, self._n) if (self._lexical is not None and text) else None
        return _Snapshot(self._matrix, self._alive, self._chunk_ids, self._n, self._dead, lexical)

    def _rank(self, snapshot: "_Snapshot", vector: np.ndarray, k: int, *, min_score: float | None,
              need_shared_word: bool) -> list[Hit]:
        matrix, alive, chunk_ids, n, dead, lexical = snapshot
        if n == 0 or k <= 0 or len(vector) != matrix.shape[1]:
            return []
        cosine = matrix[:n] @ np.asarray(vector, dtype=np.float32)
        if dead:
            cosine[~alive[:n]] = -np.inf
        # Filter before ranking, so that k eligible chunks come back when there are k.
        ranked = cosine if min_score is None else np.where(cosine >= min_score, cosine, -np.inf)
        if lexical is None:
            rows = _top(ranked, k)
        else:
            lexical[~np.isfinite(ranked)] = 0
            if need_shared_word:
                ranked = np.where(lexical > 0, ranked, -np.inf)
            rows = self._fuse(ranked, lexical, k)
        rows = [r for r in rows if np.isfinite(ranked[r])]
        return _fetch_hits([int(chunk_ids[r]) for r in rows], [float(cosine[r]) for r in rows])

    @staticmethod
    def _fuse(cosine: np.ndarray, lexical: np.ndarray, k: int) -> list[int]:
        """The k best rows by VECTOR_WEIGHT * z(cosine) + (1 - VECTOR_WEIGHT) * z(BM25) over the candidates."""
        depth = max(FUSION_DEPTH, 4 * k)
        candidates = [r for r in _top(cosine, depth) if np.isfinite(cosine[r])]
        candidates += [r for r in _top(lexical, depth) if lexical[r] > 0 and np.isfinite(cosine[r])]
        rows = np.unique(np.asarray(candidates, dtype=np.int64))
        if not len(rows):
            return []
        fused = VECTOR_WEIGHT * _standardised(cosine[rows]) + (1 - VECTOR_WEIGHT) * _standardised(lexical[rows])
        return [int(rows[i]) for i in np.argsort(-fused, kind="stable")[:k]]

    # --- keeping current ----------------------------------------------------------------------------
    def sync(self) -> None:
        """Bring the rows in line with the ready documents in the database (call with the lock held)."""
        model = self._fixed_model or get_embedder().model
        if model != self._model:
            self._reset(model)
        ready_docs = Document.objects.filter(status=Document.Status.READY)
        # One aggregate row answers "did anything change?" for the common case of nothing.
        fingerprint = tuple(ready_docs.aggregate(n=Count("id"), last=Max("updated_at"), ids=Sum("id")).values())
        if fingerprint == self._fingerprint:
            return
        ready = dict(ready_docs.values_list("id", "updated_at"))
        stale = [d for d, (updated, _) in self._docs.items() if ready.get(d) != updated]
        for doc_id in stale:
            self._drop(doc_id)
        fresh = [d for d in ready if d not in self._docs]
        if len(fresh) > SCAN_OVER_DOCUMENTS:
            self._load(fresh, ready, all_ready=True)
        elif fresh:
            self._load(fresh, ready)
        if self._dead > max(1024, self._n // 4):
            self._compact()
        elif self._lexical is not None and self._lexical.needs_rebuild():
            self._lexical.rebuild()
        self._fingerprint = fingerprint

    def _load(self, doc_ids: list[int], updated: dict[int, object], *, all_ready: bool = False) -> None:
        """Append the rows of these documents' chunks, streamed with a raw cursor (no model instances).

        The BM25 side reads each chunk's packed term counts (Chunk.terms), never its text, except for a
        chunk whose terms are missing or of an older format: its text is tokenised here instead.
        """
        table = Chunk._meta.db_table
        terms_column = ", terms" if self._lexical is not None else ""
        select = f"SELECT id, document_id, embedding, dims, embedding_model{terms_column} FROM {table}"
        if all_ready:
            # A plain table scan, filtered here: on MariaDB it is several times faster than letting the server
            # join or use the embedding_model index (random reads of the blobs).
            sql, params = select, []
        else:
            placeholders = ", ".join(["%s"] * len(doc_ids))
            sql, params = f"{select} WHERE embedding_model = %s AND document_id IN ({placeholders})", [
                self._model, *doc_ids]
        expected = 0
        if all_ready:  # size the matrix once on a cold start
            expected = Chunk.objects.filter(embedding_model=self._model).count()
        wanted = set(doc_ids)
        start = self._n
        doc_columns = []
        lexical = _LexicalRows()
        for batch in _row_batches(sql, params):
            batch = [r for r in batch if r[4] == self._model and r[1] in wanted]
            if batch and not self._dims:
                self._dims = int(batch[0][3])
            batch = [r for r in batch if int(r[3]) == self._dims]
            first = self._n
            self._append(batch, reserve=expected)
            doc_columns.append(np.fromiter((r[1] for r in batch), dtype=np.int64, count=len(batch)))
            if self._lexical is not None:
                lexical.take(first, batch)
        if self._lexical is not None:
            self._lexical.add(*lexical.rows())
        doc_column = np.concatenate(doc_columns) if doc_columns else np.zeros(0, np.int64)
        order = np.argsort(doc_column, kind="stable")
        sorted_docs = doc_column[order]
        lows = np.searchsorted(sorted_docs, doc_ids, side="left")
        highs = np.searchsorted(sorted_docs, doc_ids, side="right")
        for doc_id, lo, hi in zip(doc_ids, lows, highs, strict=True):
            self._docs[doc_id] = (updated[doc_id], order[lo:hi] + start)

    def _append(self, rows: list[tuple], reserve: int = 0) -> None:
        needed = self._n + len(rows)
        if needed > len(self._matrix) or self._matrix.shape[1] != self._dims:
            target = max(needed, self._n + reserve)
            capacity = max(1024, target + target // 4)
            matrix = np.empty((capacity, self._dims), dtype=np.float32)  # rows past _n are never read
            if self._n:
                matrix[:self._n] = self._matrix[:self._n]
            self._matrix = matrix
            self._alive = np.concatenate([self._alive[:self._n], np.zeros(capacity - self._n, dtype=bool)])
            self._chunk_ids = np.concatenate([self._chunk_ids[:self._n], np.zeros(capacity - self._n, np.int64)])
        if rows:
            block = self._matrix[self._n:needed]
            for i, row in enumerate(rows):  # one copy per blob, straight into place
                block[i] = np.frombuffer(row[2], dtype="<f4")
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            off = np.flatnonzero(np.abs(norms - 1) > 1e-3)  # stored vectors are normalised already, as a rule
            if len(off):
                block[off] /= np.where(norms[off] == 0, 1, norms[off])[:, None]
            self._alive[self._n:needed] = True
            self._chunk_ids[self._n:needed] = [r[0] for r in rows]
        self._n = needed

    def _drop(self, doc_id: int) -> None:
        _, rows = self._docs.pop(doc_id)
        self._alive[rows] = False
        self._matrix[rows] = 0
        self._dead += len(rows)
        if self._lexical is not None:
            for row in rows:
                self._lexical.remove(int(row))

    def _compact(self) -> None:
        keep = np.flatnonzero(self._alive[:self._n])
        row_map = np.full(self._n, -1, dtype=np.int64)
        row_map[keep] = np.arange(len(keep))
        capacity = max(1024, len(keep) + len(keep) // 4)
        matrix = np.zeros((capacity, self._dims), dtype=np.float32)
        matrix[:len(keep)] = self._matrix[keep]
        self._matrix = matrix
        self._chunk_ids = np.concatenate([self._chunk_ids[keep], np.zeros(capacity - len(keep), np.int64)])
        self._alive = np.zeros(capacity, dtype=bool)
        self._alive[:len(keep)] = True
        self._docs = {d: (updated, row_map[rows]) for d, (updated, rows) in self._docs.items()}
        self._n, self._dead = len(keep), 0
        if self._lexical is not None:
            self._lexical.rebuild(row_map)

    @property
    def size(self) -> int:
        """Live rows held (chunks searchable now)."""
        return self._n - self._dead


class _Snapshot(NamedTuple):
    matrix: np.ndarray
    alive: np.ndarray
    chunk_ids: np.ndarray
    n: int
    dead: int
    lexical: np.ndarray | None  # BM25 scores of rows [0, n) for the query text, if any


class _LexicalRows:
    """The packed term counts of the rows being loaded, decoded batch by batch (see `ChunkIndex._load`)."""

    def __init__(self):
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._missing: dict[int, int] = {}  # chunk id -> row, for chunks without current terms

    def take(self, first_row: int, batch: list[tuple]) -> None:
        rows, blobs = [], []
        for offset, row in enumerate(batch):
            if is_current_terms(row[5]):
                rows.append(first_row + offset)
                blobs.append(row[5])
            else:  # written before Chunk.terms existed, or by an older tokeniser
                self._missing[row[0]] = first_row + offset
        self._decode(rows, blobs)

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, terms per row, term hashes, counts) of everything taken: BM25Rows.add's arguments."""
        ids = list(self._missing)
        for start in range(0, len(ids), 500):
            texts = Chunk.objects.filter(id__in=ids[start:start + 500]).values_list("id", "text")
            found = [(self._missing[cid], pack_terms(text)) for cid, text in texts]
            self._decode([row for row, _ in found], [blob for _, blob in found])
        if not self._parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.uint16)
        return tuple(np.concatenate(column) for column in zip(*self._parts, strict=True))

    def _decode(self, rows: list[int], blobs: list[bytes]) -> None:
        if rows:
            self._parts.append((np.asarray(rows, dtype=np.int64), *unpack_many(blobs)))


def _row_batches(sql: str, params: list, size: int = 2000):
    """Rows in batches, streamed where the driver can (MySQL: a server-side cursor), so that copying overlaps
    the transfer and no second copy of every blob is held at once."""
    connection.ensure_connection()
    if connection.vendor == "mysql":
        from MySQLdb.cursors import SSCursor

        cursor = connection.connection.cursor(SSCursor)
    else:
        cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        cursor.close()


def _standardised(scores: np.ndarray) -> np.ndarray:
    """z-scores (0 where all scores are equal)."""
    scores = scores.astype(np.float64)
    spread = scores.std()
    return (scores - scores.mean()) / spread if spread > 0 else np.zeros_like(scores)


def _top(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest scores, largest first: a partial sort, then a sort of k items."""
    if k >= len(scores):
        return [int(i) for i in np.argsort(-scores, kind="stable")]
    part = np.argpartition(-scores, k)[:k]
    return [int(i) for i in part[np.argsort(-scores[part], kind="stable")]]


def _fetch_hits(chunk_ids: list[int], scores: list[float]) -> list[Hit]:
    if not chunk_ids:
        return []
    rows = {
        row[0]: row
        for row in Chunk.objects.filter(id__in=chunk_ids, document__status=Document.Status.READY).values_list(
            "id", "document_id", "document__title", "text", "page", "position")
    }
    return [
        Hit(chunk_id=cid, document_id=rows[cid][1], document_title=rows[cid][2], score=round(score, 4),
            text=rows[cid][3], page=rows[cid][4], position=rows[cid][5])
        for cid, score in zip(chunk_ids, scores, strict=True) if cid in rows
    ]


_index = ChunkIndex()


def search(query: str, k: int = 5, *, min_score: float | None = None) -> list[Hit]:
    """The process's index: see ChunkIndex.search."""
    return _index.search(query, k, min_score=min_score)


def get_index() -> ChunkIndex:
    return _index


def reset_index() -> None:
    """Forget everything loaded (tests: a rolled-back database can reuse document ids)."""
    global _index
    _index = ChunkIndex()
