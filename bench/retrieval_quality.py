"""Retrieval quality: hit@1 and hit@5 of the project's search (offline default) next to BM25 (bm25s).

    .venv/bin/python bench/retrieval_quality.py [--database-url URL]

The question set is built from Python's stdlib docstrings (bench/qa_data.py explains how: ~1,300 passages,
~600 questions whose answering passage is known). Passages go through the project's own ingest path
(knowledge.services.document_ingest) into a throw-away database (a temp SQLite file by default), then every
question is searched three ways: the project's search (hybrid: local vectors + BM25, fused), its vector
ranking alone, and the `bm25s` package over the same chunk texts. It also prints the cosine scores that
RAG_MIN_SCORE is tuned from: those of answering passages, and the best match of off-topic questions.
"""

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ragchat-quality-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp}/quality.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHAT_BACKEND", "EMBEDDING_BACKEND"):
        os.environ.pop(name, None)  # the offline defaults are what is measured
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)
    import qa_data
    from django.core.management import call_command

    from knowledge.embeddings import get_embedder
    from knowledge.index import ChunkIndex
    from knowledge.models import Chunk, Document
    from knowledge.services import DuplicateDocument, document_ingest

    call_command("migrate", verbosity=0)
    Document.objects.all().delete()
    passages, questions = qa_data.build()
    started = time.perf_counter()
    doc_of: dict[str, int] = {}
    for passage in passages:
        try:
            doc_of[passage.key] = document_ingest(text=passage.text, title=passage.title).id
        except DuplicateDocument as duplicate:
            doc_of[passage.key] = duplicate.existing.id
    print(f"Ingested {len(passages)} passages ({Chunk.objects.count()} chunks) in "
          f"{time.perf_counter() - started:.1f} s; {len(questions)} questions "
          f"({sum(q.kind == 'summary' for q in questions)} summary, {sum(q.kind == 'cloze' for q in questions)} cloze)")

    chunk_ids, chunk_docs, chunk_texts = zip(*Chunk.objects.values_list("id", "document_id", "text"), strict=True)
    hybrid, vector_only = ChunkIndex(), ChunkIndex(lexical=False)
    embedder = get_embedder()

    def ours(index):
        return lambda q: [h.document_id for h in index.search(q.text, 5)]

    bm25_rank = _bm25(list(chunk_texts), list(chunk_docs))
    rankers = {"project search (hybrid, default)": ours(hybrid), "project vectors only": ours(vector_only),
               "BM25 (bm25s)": bm25_rank}
    print(f"\n{'ranker':36} {'kind':8} {'hit@1':>6} {'hit@5':>6}  {'ms/query':>8}")
    for name, rank in rankers.items():
        rank(questions[0])  # load
        started = time.perf_counter()
        ranked = [(q, rank(q)) for q in questions]
        per_query = (time.perf_counter() - started) * 1000 / len(questions)
        for kind in ("summary", "cloze", "all"):
            subset = [(q, r) for q, r in ranked if kind in ("all", q.kind)]
            hit1 = np.mean([bool(r) and r[0] == doc_of[q.passage_key] for q, r in subset])
            hit5 = np.mean([doc_of[q.passage_key] in r[:5] for q, r in subset])
            print(f"{name:36} {kind:8} {hit1:6.3f} {hit5:6.3f}  {per_query:8.2f}")

    vectors = {cid: v for cid, v in zip(chunk_ids, embedder.embed(list(chunk_texts)), strict=True)}
    first_chunk = {}
    for cid, doc in zip(chunk_ids, chunk_docs, strict=True):
        first_chunk.setdefault(doc, cid)
    answering = [float(hybrid.query_vector(q.text) @ vectors[first_chunk[doc_of[q.passage_key]]])
                 for q in questions]
    best = [hybrid.search(q, 1) for q in OFF_TOPIC]
    off_topic = [hits[0].cosine if hits else -1.0 for hits in best]  # -1: nothing shares a word with it
    print(f"\nOff-topic questions that share no word with any passage (no hit at all): "
          f"{sum(not hits for hits in best)} of {len(OFF_TOPIC)}")
    print("Cosine of a question and its answering passage: "
          + ", ".join(f"p{p}={np.percentile(answering, p):.3f}" for p in (5, 10, 25, 50)))
    print("Best match of the other off-topic questions:     "
          + ", ".join(f"p{p}={np.percentile([s for s in off_topic if s >= 0] or [0], p):.3f}"
                      for p in (50, 75, 90, 100)))
    print(f"\n{'RAG_MIN_SCORE':>13} {'answering passages kept':>24} {'off-topic questions answered':>29}")
    for threshold in (0.0, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1, 0.12, 0.15, 0.2):
        kept = np.mean(np.array(answering) >= threshold)
        answered = np.mean(np.array(off_topic) >= threshold)
        print(f"{threshold:13.2f} {kept:24.3f} {answered:29.3f}")


def _bm25(texts: list[str], docs: list[int]):
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def rank(question) -> list[int]:
        results, _ = retriever.retrieve(bm25s.tokenize([question.text], stopwords="en", show_progress=False),
                                        k=5, show_progress=False)
        return [docs[i] for i in results[0]]

    return rank


if __name__ == "__main__":
    main()
