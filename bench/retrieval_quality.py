"""Retrieval quality of the project's search (offline default) next to BM25 and a BM25 + MiniLM fusion.

    .venv/bin/python bench/retrieval_quality.py [--database-url URL] [--sets stdlib,manpages]

Sets (each built from material on this machine; nothing is downloaded):
- stdlib (question-style): ~1,300 passages of Python's standard-library docstrings, ~600 questions whose
  answering passage is known (bench/qa_data.py): "summary" questions (a docstring's first line, in other
  words than its body) and "cloze" ones (half the words of one sentence, a half-remembered phrase).
- manpages (keyword-style, graded): ~1,100 manual-page descriptions; queries are the pages' NAME summaries
  ("list directory contents"), relevance 2 for the page, 1 for the pages its SEE ALSO names
  (bench/manpage_data.py; cached in bench/data/, rebuilt by deleting bench/data/manpages.json).

Passages go through the project's own ingest path (knowledge.services.document_ingest) into a throw-away
database (a temp SQLite file by default). Rankers:
- BM25: the `bm25s` package over the same chunk texts (English stop words, no stemming).
- MiniLM alone: all-MiniLM-L6-v2 as sentence-transformers runs it (the first 256 word pieces, mean pooling),
  the embedder Open WebUI and AnythingLLM download; the same int8 ONNX weights as ours.
- BM25 + MiniLM RRF: reciprocal rank fusion of those two (K=60, equal weights): the baseline to beat.
- ours, vectors alone / ours, hybrid: the project's index (knowledge/index.py), as a chat turn searches.
Queries are split in two halves by position (dev: even, test: odd): the fusion weight was tuned on dev only,
so the test half is the honest figure. Metrics: hit@1, hit@5 (the best-graded passage in the top 1 / 5),
MRR@10, nDCG@10 (graded gains 2^rel - 1). It also prints the cosines RAG_MIN_SCORE is tuned from.
"""

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

OFF_TOPIC = [
    "How long should I boil an egg for a soft yolk?", "Who won the football world cup in 1998?",
    "What is the best fertiliser for tomato plants?", "How do I get a visa to travel to Japan?",
    "Which wine goes well with grilled salmon?", "How many calories are in a banana?",
    "What is the capital city of Australia?", "How do I treat a sprained ankle?",
    "When does the next solar eclipse happen in Europe?", "How do you knit a scarf for beginners?",
    "What are the symptoms of the flu in children?", "How fast can a cheetah run?",
    "Recommend a good novel about the French revolution", "How do I change a flat tyre on a bicycle?",
    "What is the price of gold today?", "Who painted the Mona Lisa?",
    "How much rain falls in the Amazon each year?", "What is a good stretching routine for runners?",
    "How do I train my puppy to sit?", "What is the plot of Hamlet?",
]
DEPTH = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--sets", default="stdlib,manpages", help="comma-separated: stdlib, manpages")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ragchat-quality-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp}/quality.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHAT_BACKEND", "EMBEDDING_BACKEND", "RAG_MIN_SCORE"):
        os.environ.pop(name, None)  # the offline defaults are what is measured
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    for name in args.sets.split(","):
        corpus = {"stdlib": stdlib_set, "manpages": manpage_set}[name.strip()]()
        if corpus:
            run(*corpus)


def stdlib_set():
    import qa_data

    passages, questions = qa_data.build()
    sets = {f"stdlib {kind}": [(q.text, {q.passage_key: 1}) for q in questions if q.kind == kind]
            for kind in ("summary", "cloze")}
    return "stdlib docstrings (question-style)", [(p.key, p.title, p.text) for p in passages], sets


def manpage_set():
    import manpage_data

    pages, queries = manpage_data.build()
    if not pages:
        print("No manual pages on this machine: the manpages set is skipped.")
        return None
    # Titles are neutral: a page's name often is the query's answer word ("ls"), and titles are not indexed.
    return ("manual pages (keyword-style, graded)", [(p.key, f"page {i}", p.text) for i, p in enumerate(pages)],
            {"manpages": queries})


def run(label: str, passages: list[tuple[str, str, str]], sets: dict[str, list[tuple[str, dict[str, int]]]]):
    from knowledge.embeddings import MiniLMEmbedder, get_embedder
    from knowledge.index import ChunkIndex
    from knowledge.models import Chunk, Document
    from knowledge.services import DuplicateDocument, document_ingest

    Document.objects.all().delete()
    started = time.perf_counter()
    doc_of: dict[str, int] = {}
    for key, title, text in passages:
        try:
            doc_of[key] = document_ingest(text=text, title=title).id
        except DuplicateDocument as duplicate:
            doc_of[key] = duplicate.existing.id
    elapsed = time.perf_counter() - started
    n_chunks = Chunk.objects.count()
    print(f"\n### {label}: {len(passages)} passages, {n_chunks} chunks, ingested in {elapsed:.0f} s "
          f"({n_chunks / elapsed:.0f} chunks/s with {get_embedder().model})")

    chunk_ids, chunk_docs, chunk_texts = zip(*Chunk.objects.values_list("id", "document_id", "text"), strict=True)
    minilm = MiniLMEmbedder(window=256, max_windows=1)  # as sentence-transformers runs it
    minilm_chunks = minilm.embed(list(chunk_texts))
    bm25 = _bm25s(list(chunk_texts))
    hybrid, vectors_only = ChunkIndex(), ChunkIndex(lexical=False)

    def ours(index):
        return lambda q: _documents([h.document_id for h in index.search(q, 4 * DEPTH)])

    def dense(q):
        return _documents([chunk_docs[i] for i in _top(minilm_chunks @ minilm.embed_query(q), 4 * DEPTH)])

    def lexical(q):
        return _documents([chunk_docs[i] for i in bm25(q, 4 * DEPTH)])

    def rrf(q):
        fused: dict[int, float] = {}
        for ranking in (lexical(q), dense(q)):
            for rank, doc in enumerate(ranking):
                fused[doc] = fused.get(doc, 0.0) + 1 / (60 + rank + 1)
        return sorted(fused, key=lambda d: -fused[d])

    rankers = {"BM25 (bm25s)": lexical, "MiniLM alone": dense, "BM25 + MiniLM RRF": rrf,
               "ours, vectors alone": ours(vectors_only), "ours, hybrid (default)": ours(hybrid)}
    print(f"{'set':16} {'ranker':24} {'split':5} {'hit@1':>6} {'hit@5':>6} {'MRR':>6} {'nDCG@10':>8}  {'ms/q':>5}")
    for set_name, queries in sets.items():
        judged = [(text, {doc_of[k]: g for k, g in relevant.items() if k in doc_of}) for text, relevant in queries]
        for name, rank in rankers.items():
            rank(judged[0][0])  # load
            started = time.perf_counter()
            ranked = [rank(text) for text, _ in judged]
            per_query = (time.perf_counter() - started) * 1000 / len(judged)
            for split, part in (("dev", slice(0, None, 2)), ("test", slice(1, None, 2))):
                scores = np.array([_metrics(r, rel) for r, (_, rel) in zip(ranked[part], judged[part], strict=True)])
                hit1, hit5, mrr, ndcg = scores.mean(axis=0)
                print(f"{set_name:16} {name:24} {split:5} {hit1:6.3f} {hit5:6.3f} {mrr:6.3f} {ndcg:8.3f}  "
                      f"{per_query:5.1f}")
    _thresholds(hybrid, sets, doc_of)


def _thresholds(index, sets, doc_of) -> None:
    """The cosines RAG_MIN_SCORE is chosen from: answering passages vs the best match of off-topic questions."""
    from knowledge.models import ChunkVector
    from knowledge.vectors import active_model

    first = next(iter(sets.values()))
    vectors = {}
    for doc, blob in (ChunkVector.objects.filter(chunk__position=0, model=active_model())
                      .values_list("chunk__document_id", "vector")):
        vectors[doc] = np.frombuffer(blob, dtype="<f4")
    answering = []
    for text, relevant in first:
        best = max(relevant, key=relevant.get)
        if best in doc_of and doc_of[best] in vectors:
            answering.append(float(index.query_vector(text) @ vectors[doc_of[best]]))
    off_topic = [hits[0].cosine if hits else -1.0 for hits in (index.search(q, 1) for q in OFF_TOPIC)]
    print("Cosine of a question and its answering passage: "
          + ", ".join(f"p{p}={np.percentile(answering, p):.3f}" for p in (5, 10, 25, 50)))
    print("Best match of the off-topic questions:          "
          + ", ".join(f"p{p}={np.percentile(off_topic, p):.3f}" for p in (50, 75, 90, 100)))
    print(f"{'RAG_MIN_SCORE':>13} {'answering passages kept':>24} {'off-topic questions answered':>29}")
    for threshold in (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4):
        kept = np.mean(np.array(answering) >= threshold)
        answered = np.mean(np.array(off_topic) >= threshold)
        print(f"{threshold:13.2f} {kept:24.3f} {answered:29.3f}")


def _metrics(ranking: list[int], relevant: dict[int, int]) -> tuple[float, float, float, float]:
    """hit@1, hit@5, reciprocal rank (within DEPTH) of the best-graded passage; nDCG@DEPTH."""
    top_grade = max(relevant.values())
    best = {d for d, g in relevant.items() if g == top_grade}
    rank = next((i for i, d in enumerate(ranking[:DEPTH]) if d in best), None)
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranking[:DEPTH]))
    ideal = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:DEPTH]))
    return (float(rank == 0), float(rank is not None and rank < 5), 0.0 if rank is None else 1 / (rank + 1),
            dcg / ideal)


def _documents(docs: list[int]) -> list[int]:
    """Documents in order of their best chunk."""
    return list(dict.fromkeys(docs))


def _top(scores: np.ndarray, k: int) -> list[int]:
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in part[np.argsort(-scores[part], kind="stable")]]


def _bm25s(texts: list[str]):
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def rank(query: str, k: int) -> list[int]:
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:  # nothing but stop words
            return []
        results, scores = retriever.retrieve(tokens, k=min(k, len(texts)), show_progress=False)
        return [int(i) for i, s in zip(results[0], scores[0], strict=True) if s > 0]

    return rank


if __name__ == "__main__":
    main()
