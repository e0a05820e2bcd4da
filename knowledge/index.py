"""The search index over chunks of ready documents (DESIGN.md "Retrieval"), kept current with the database.

Each process holds the active embedding model's vectors as one normalised float32 matrix (and a BM25
index over the chunks' terms), and keeps them current: before every query one primary-key lookup reads
`IndexState` (knowledge/index_state.py); only when its version changed does `sync` compare the ready
documents' (id, updated_at) with what it holds, load the chunks of new or changed documents and mask
the rows of documents that are gone. So a document ingested or deleted by this process, another web
worker, the admin or `manage.py ingest` elsewhere is seen by the next query, with no signal between
processes. When the active model changes (`manage.py reindex` switched it), the index reloads for it.

Rows live in a base block and a delta (knowledge/vector_rows.py, knowledge/bm25.py). The base is written
to a snapshot file that the machine's other processes map instead of loading their own copy
(knowledge/snapshot.py). Once the delta or the removed rows grow past a share of the base, a thread builds
a new base (reading the database, or mapping a newer snapshot another process wrote) while queries go on,
and the next query catches up from it. Ranking is knowledge/ranking.py; reading rows, stored_rows.py.
"""

import contextlib
import ctypes
import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection

from knowledge import index_state, snapshot, stored_rows, word_pairs
from knowledge.bm25 import BM25Rows, Postings
from knowledge.embeddings import embedder_for_model, get_embedder
from knowledge.lexical import terms
from knowledge.ranking import Hit, query_weights, rank
from knowledge.vector_rows import Quantized, VectorRows, normalise_rows
from ragchat.gate import locked

SCAN_OVER_DOCUMENTS = 500  # more new documents than this (a cold start): scan the vector table once
REBASE_DELTA_ROWS = 2000  # a delta bigger than this and than a tenth of the base: build a new base
_POSTINGS = Postings._fields
log = logging.getLogger(__name__)


class Lexical(NamedTuple):
    """A query's BM25 score of every row, and how many of the query's distinct terms each row holds."""

    scores: np.ndarray
    terms_held: np.ndarray


@dataclass
class _Held:
    """The rows one index holds for one model."""

    model: str
    vectors: VectorRows
    lexical: BM25Rows | None
    docs: dict[int, tuple[int, np.ndarray]]  # document id -> (version stamp, its rows)
    documents: np.ndarray  # each base row's document id
    mapped: snapshot.Snapshot | None = None  # the snapshot file the base is a view of
    delta_documents: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def rows_of(self, documents: np.ndarray, n: int) -> np.ndarray:
        """A mask over the first `n` rows: True for the rows of these documents (a whole-array test, base and
        delta, however many rows and documents there are)."""
        n_base = len(self.documents)
        mask = np.empty(n, dtype=bool)
        mask[:n_base] = np.isin(self.documents, documents)
        mask[n_base:] = np.isin(self.delta_documents[:n - n_base], documents)
        return mask


class ChunkIndex:
    def __init__(self, *, lexical: bool = True, model: str | None = None, snapshot_dir: Path | None = None):
        """`model`: index this embedding model's rows instead of the active one's (benchmarks).
        `snapshot_dir`: share the base through snapshot files there (default: settings.INDEX_SNAPSHOT_DIR)."""
        self._lock = threading.Lock()
        self._use_lexical = lexical
        self._fixed_model = model
        self._snapshot_dir = snapshot_dir
        self._held: _Held | None = None
        self._version: int | None = None
        self._rebuilding = False

    # --- queries ------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, *, min_score: float | None = None,
               documents: np.ndarray | None = None, served: index_state.Served | None = None) -> list[Hit]:
        """The k chunks that best match `query`, best first; with min_score, chunks whose cosine is lower
        are dropped. `documents`: only chunks of these document ids (a mask over the rows, applied before the
        top k of either ranking is taken); None: all of them. `served`: the state row, if the caller has just
        read it (one read per search)."""
        if not query.strip() or (documents is not None and not len(documents)):
            return []
        words = terms(query)  # once: for the BM25 scores and for the query's word weights
        # The change check reads the database before the lock is taken: a thread that held the lock across
        # that round trip made every other search of the process queue behind it (and behind the GIL).
        served = served or index_state.served()
        with locked(self._lock):  # one sync serves the word weights and the ranking
            self.sync(served)
            held = self._held
            embedder = embedder_for_model(held.model)
            weights = None
            if held.lexical is not None and not embedder.semantic:
                weights = query_weights(words, held.lexical)
            view, lexical, allowed = self._view(words, documents)
        vector = embedder.embed_query(query, weights)
        return self._hits(view, lexical, vector, k, min_score=min_score, need_shared_word=not embedder.semantic,
                          allowed=allowed, words=words)

    def query_vector(self, query: str) -> np.ndarray:
        """The vector `search` ranks by: the active model's, with words weighted by idf where it weights words."""
        with locked(self._lock):
            self.sync()
            embedder = embedder_for_model(self._held.model)
            weights = None
            if self._held.lexical is not None and not embedder.semantic:
                weights = query_weights(terms(query), self._held.lexical)
        return embedder.embed_query(query, weights)

    def search_vector(self, vector: np.ndarray, k: int = 5, *, text: str | None = None,
                      min_score: float | None = None, need_shared_word: bool = False,
                      documents: np.ndarray | None = None) -> list[Hit]:
        """Rank by `vector` (and, given `text`, by BM25 too, fused). Benchmarks pass a vector directly.

        need_shared_word: drop chunks that share no word with `text` (see Embedder.semantic).
        documents: only chunks of these document ids, as in `search`.
        """
        if documents is not None and not len(documents):
            return []
        words = terms(text) if text else None
        with locked(self._lock):
            self.sync()
            view, lexical, allowed = self._view(words, documents)
        return self._hits(view, lexical, vector, k, min_score=min_score, need_shared_word=need_shared_word,
                          allowed=allowed, words=words)

    def _view(self, words: list[str] | None, documents: np.ndarray | None = None):
        """(Lock held.) The vectors one ranking reads, the BM25 scores of `words` over the same rows, and the
        mask of the rows of `documents` (None: every row)."""
        held = self._held
        view = held.vectors.view()
        lexical = None
        if held.lexical is not None and words:
            terms_held = np.zeros(view.n, dtype=np.uint16)
            lexical = Lexical(held.lexical.scores(words, view.n, held=terms_held), terms_held)
        allowed = held.rows_of(np.asarray(documents, dtype=np.int64), view.n) if documents is not None else None
        return view, lexical, allowed

    def _hits(self, view, lexical, vector, k: int, *, min_score, need_shared_word: bool,
              allowed: np.ndarray | None = None, words: list[str] | None = None) -> list[Hit]:
        if view.n == 0 or len(vector) != view.dims or k <= 0:
            return []
        # Rows outside `allowed` score -inf, which ranking drops from both rankings before taking the top k.
        cosine = view.cosine(vector, allowed)
        # The best fused hits are re-scored by the query's word pairs in their texts: fetched in the one query
        # that reads the hits' rows, so the index holds no pairs.
        pairs = word_pairs.query_pairs(words) if lexical is not None and words else None
        depth = max(k, word_pairs.RESCORE_DEPTH) if pairs is not None else k
        ranked = rank(cosine, lexical.scores if lexical is not None else None, depth, min_score=min_score,
                      need_shared_word=need_shared_word)
        rows, scores, cosines = ranked.rows, ranked.scores, ranked.cosines
        if pairs is not None:
            read = word_pairs.worth_reading(rows, k, lexical.terms_held, pairs)
            rows, scores, cosines = ([values[i] for i in read] for values in (rows, scores, cosines))
        hits = stored_rows.fetch_hits(view.chunk_ids(rows), scores, cosines)
        return word_pairs.rescored(hits, pairs)[:k] if pairs is not None else hits

    @property
    def size(self) -> int:
        """Live rows held (chunks searchable now)."""
        return self._held.vectors.size if self._held is not None else 0

    @property
    def model(self) -> str | None:
        return self._held.model if self._held is not None else None

    # --- keeping current ----------------------------------------------------------------------------
    def sync(self, served: index_state.Served | None = None) -> None:
        """Bring the rows in line with the ready documents in the database (call with the lock held). `served`,
        if given, was read just before: a thread that read an older version than the one held re-reads the
        ready documents (current ones, never older) and the next query settles on the newest version."""
        served = served or index_state.served()  # read before the documents: a change after it is seen next time
        model = self._fixed_model or served.active_model or get_embedder().model
        if self._held is not None and self._held.model != model:
            self._held = None
        if self._held is not None and served.version == self._version:
            return
        ready = stored_rows.ready_documents()
        if self._held is None:
            self._held = self._built(model, ready, write_later=True)
            _release_freed_memory()
        self._catch_up(ready)
        self._version = served.version
        if self._needs_rebase():
            self._start_rebase()

    def _catch_up(self, ready: dict[int, int]) -> None:
        held = self._held
        for doc_id in [d for d, (version, _) in held.docs.items() if ready.get(d) != version]:
            self._drop(doc_id)
        fresh = [d for d in ready if d not in held.docs]
        if fresh:
            self._load(fresh, ready)

    def _load(self, doc_ids: list[int], ready: dict[int, int]) -> None:
        """Append the rows of these documents' chunks (vectors, and term counts for BM25)."""
        held = self._held
        many = len(doc_ids) > SCAN_OVER_DOCUMENTS
        read = stored_rows.read_rows(held.model, None if many else doc_ids, keep=set(doc_ids), dims=held.vectors.dims,
                                     lexical=held.lexical is not None)
        rows = held.vectors.append(read.chunk_ids, read.matrix)
        held.delta_documents = np.concatenate([held.delta_documents[:held.vectors.n_delta - len(rows)],
                                               np.asarray(read.documents, dtype=np.int64)])
        if held.lexical is not None:
            lexical_rows, sizes, hashes, counts = read.hashed()
            held.lexical.add(rows[lexical_rows], sizes, hashes, counts)
        held.docs.update(_rows_by_document(doc_ids, read.documents, rows, ready))

    def _drop(self, doc_id: int) -> None:
        held = self._held
        _, rows = held.docs.pop(doc_id)
        held.vectors.drop(rows)
        if held.lexical is not None:
            for row in rows.tolist():
                held.lexical.remove(row)

    # --- building a base ----------------------------------------------------------------------------
    def _needs_rebase(self) -> bool:
        vectors = self._held.vectors
        if vectors.dead > max(1024, vectors.n // 4):
            return True
        lexical_tail = self._held.lexical.tail_size if self._held.lexical is not None else 0
        return max(vectors.n_delta, lexical_tail) > max(REBASE_DELTA_ROWS, vectors.n_base // 10)

    def _start_rebase(self) -> None:
        """(Lock held.) Build a new base without holding up queries: in a thread, which installs it when done."""
        if connection.in_atomic_block:  # another connection would not see this transaction's rows (tests)
            self._rebase()
        elif not self._rebuilding:
            self._rebuilding = True
            threading.Thread(target=self._rebase_in_background, args=(self._held,), daemon=True,
                             name="ragchat-index-rebase").start()

    def _rebase(self) -> None:
        """(Lock held.) Replace the base and its delta with a new base, now."""
        held = self._held
        ready = stored_rows.ready_documents()
        self._held = self._built(held.model, ready, replacing=held.mapped)
        self._catch_up(ready)

    def _rebase_in_background(self, held: _Held) -> None:
        try:
            built = self._built(held.model, stored_rows.ready_documents(), replacing=held.mapped)
            with self._lock:
                if self._held is not None and self._held.model == built.model:
                    self._held = built
                    self._version = None  # the next query compares it with the database and catches up
            del held, built
            _release_freed_memory()
        except Exception:
            log.exception("Building a new base for the search index failed; it keeps its rows and delta.")
        finally:
            self._rebuilding = False
            connection.close()  # this thread's own connection

    def _built(self, model: str, ready: dict[int, int], *, replacing: snapshot.Snapshot | None = None,
               write_later: bool = False) -> _Held:
        """Rows for `model`: mapped from this machine's snapshot (when there is one that is not `replacing`),
        else read from the database, and written as the snapshot the other processes map. `write_later`: return
        the rows read at once and write the snapshot from a thread (the other processes wait for it)."""
        directory = self._snapshots()
        if directory is None:
            return self._read_all(model, ready)
        name = self._snapshot_prefix(model)
        held, lock = None, None
        try:
            lock = snapshot.Lock(directory, name)  # one process reads the database; the others wait, then map
            path = snapshot.latest(directory, name)
            if path is not None and (replacing is None or path != replacing.path):
                held = self._mapped(path, model)
            if held is None:
                held = self._read_all(model, ready)
                if held.vectors.size >= settings.INDEX_SNAPSHOT_MIN_ROWS:
                    if write_later and not connection.in_atomic_block:
                        # The rows as read: queries change `held` in place meanwhile (its delta, its documents).
                        as_read = dataclasses.replace(held, docs=dict(held.docs))
                        threading.Thread(target=self._write_in_background, args=(held, as_read, directory, name, lock),
                                         daemon=True, name="ragchat-index-snapshot").start()
                        lock = None  # the thread releases it once the file is written
                    else:
                        held = self._written(held, directory, name)
        except OSError as exc:  # a folder we may not write, a full disk: hold the rows privately instead
            log.warning("Search index snapshots in %s are unavailable (%s); this process holds its own copy.",
                        directory, exc)
            held = held or self._read_all(model, ready)
        finally:
            if lock is not None:
                lock.release()
        return held

    def _write_in_background(self, held: _Held, as_read: _Held, directory: Path, name: str,
                             lock: snapshot.Lock) -> None:
        """Write the snapshot of rows this process already serves (`as_read`: their base and documents as they
        were read), then serve them from the file instead."""
        try:
            mapped = self._written(as_read, directory, name)
            with self._lock:
                if mapped is not as_read and self._held is held:
                    self._held = mapped
                    self._version = None  # the next query catches up with changes made meanwhile
        except OSError as exc:
            log.warning("Writing a search index snapshot in %s failed (%s).", directory, exc)
        finally:
            lock.release()
            del held, as_read
            _release_freed_memory()

    def _read_all(self, model: str, ready: dict[int, int]) -> _Held:
        read = stored_rows.read_rows(model, None, keep=set(ready), lexical=self._use_lexical)
        normalise_rows(read.matrix)
        lexical = BM25Rows(Postings.from_columns(*read.terms())) if self._use_lexical else None
        rows = np.arange(read.n, dtype=np.int64)
        docs = _rows_by_document(list(ready), read.documents, rows, ready)
        return _Held(model, VectorRows(read.matrix, read.chunk_ids), lexical, docs, documents=read.documents)

    # --- snapshots ----------------------------------------------------------------------------------
    def _snapshots(self) -> Path | None:
        directory = self._snapshot_dir or settings.INDEX_SNAPSHOT_DIR
        return Path(directory) if directory else None

    def _snapshot_prefix(self, model: str) -> str:
        instance = index_state.instance()
        lexical = "bm25" if self._use_lexical else "vec"
        return snapshot.prefix(snapshot.database_key(connection.settings_dict, instance), f"{model}.{lexical}")

    def _written(self, held: _Held, directory: Path, name: str) -> _Held:
        """Write `held` (just read: a base and no delta) as this machine's snapshot, and map it instead."""
        view = held.vectors.view()
        arrays = {"matrix": view.base, "chunk_ids": view.base_ids, "documents": held.documents,
                  "doc_ids": np.fromiter(held.docs, dtype=np.int64, count=len(held.docs)),
                  "doc_versions": np.fromiter((v for v, _ in held.docs.values()), np.int64, count=len(held.docs))}
        if held.lexical is not None:
            arrays.update({f"bm25_{field}": value for field, value in held.lexical.postings._asdict().items()})
        if len(view.base) >= settings.INDEX_INT8_OVER_ROWS:  # computed here, off the first query's path
            quantized = Quantized.of(view.base)
            arrays.update(codes=quantized.codes, scales=quantized.scales)
        path = snapshot.write(directory, name, arrays, {"model": held.model, "dims": int(view.dims)})
        return self._mapped(path, held.model) or held

    def _mapped(self, path: Path, model: str) -> _Held | None:
        try:
            mapped = snapshot.Snapshot(path)
        except (OSError, ValueError):
            return None  # removed meanwhile, or not ours: build from the database instead
        arrays = mapped.arrays
        if mapped.meta.get("model") != model or (self._use_lexical and "bm25_live" not in arrays):
            return None
        lexical = None
        if self._use_lexical:
            lexical = BM25Rows(Postings(*(arrays[f"bm25_{field}"] for field in _POSTINGS)))
        versions = dict(zip(arrays["doc_ids"].tolist(), arrays["doc_versions"].tolist(), strict=True))
        rows = np.arange(len(arrays["chunk_ids"]), dtype=np.int64)
        docs = _rows_by_document(list(versions), arrays["documents"], rows, versions)
        quantized = Quantized(arrays["codes"], arrays["scales"]) if "codes" in arrays else None
        return _Held(model, VectorRows(arrays["matrix"], arrays["chunk_ids"], quantized), lexical, docs,
                     documents=arrays["documents"], mapped=mapped)


def _release_freed_memory() -> None:
    """Give the memory freed after building a base back to the system (glibc keeps freed blocks of up to
    32 MB in its heap, so a process that built the base held ~150 MB more than one that mapped it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _rows_by_document(doc_ids: list[int], documents: np.ndarray, rows: np.ndarray,
                      versions: dict[int, int]) -> dict[int, tuple[int, np.ndarray]]:
    """{document: (version, its rows)} for each of `doc_ids`, given each row's document; a document
    without rows (none of its chunks has a vector of this model) is held with none."""
    order = np.argsort(documents, kind="stable")
    sorted_docs = documents[order]
    lows = np.searchsorted(sorted_docs, doc_ids, side="left")
    highs = np.searchsorted(sorted_docs, doc_ids, side="right")
    return {doc_id: (versions[doc_id], rows[order[lo:hi]])
            for doc_id, lo, hi in zip(doc_ids, lows.tolist(), highs.tolist(), strict=True)}


_index = ChunkIndex()


def search(query: str, k: int = 5, *, min_score: float | None = None, documents: np.ndarray | None = None,
           served: index_state.Served | None = None) -> list[Hit]:
    """The process's index: see ChunkIndex.search. Readers go through knowledge.services.search_for, which
    passes the documents the user may read."""
    return _index.search(query, k, min_score=min_score, documents=documents, served=served)


def get_index() -> ChunkIndex:
    return _index


def reset_index() -> None:
    """Forget everything loaded (tests: a rolled-back database can reuse document ids)."""
    global _index
    _index = ChunkIndex()
