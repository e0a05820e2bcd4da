"""Offline answers: how often they contain the expected answer, how long they are, and refusals.

    .venv/bin/python bench/answer_quality.py [--database-url URL] [--words-only]

The knowledge base and questions are bench/answer_data.py (the sample documents plus a handbook, an IT page
and a configuration reference; 27 questions with a known answer, 8 off-topic ones). Documents go through
the project's ingest path into a throw-away database; each question is answered as a chat turn does it:
`knowledge.index.search` with RAG_TOP_K and RAG_MIN_SCORE, then the offline backend (chat.llm). It prints:
- answered: the share of covered questions whose answer contains the expected string;
- refused: the share of off-topic questions answered "not covered" with no sources;
- the median length of the covered answers in words (without the offline lead line);
- with --verbose, every answer.
--words-only picks sentences by shared words alone (as without the local model installed).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--words-only", action="store_true", help="no sentence similarity from the local model")
    parser.add_argument("--verbose", action="store_true", help="print every answer")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="ragchat-answers-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp}/answers.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragchat.settings")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHAT_BACKEND", "EMBEDDING_BACKEND", "RAG_MIN_SCORE"):
        os.environ.pop(name, None)
    import logging

    import django

    django.setup()
    logging.disable(logging.INFO)
    import answer_data
    from django.conf import settings
    from django.core.management import call_command

    from chat import llm
    from chat.offline import NOT_COVERED, OFFLINE_PREFIX
    from knowledge.index import search
    from knowledge.models import Document
    from knowledge.services import document_ingest

    call_command("migrate", verbosity=0)
    Document.objects.all().delete()
    for title, text in answer_data.documents().items():
        document_ingest(text=text, title=title)
    if args.words_only:
        llm.local_model_installed = lambda: False
    backend = llm.OfflineBackend()
    answered, refused, lengths, times = [], [], [], []
    for question, expected in answer_data.QUESTIONS:
        started = time.perf_counter()
        hits = search(question, settings.RAG_TOP_K, min_score=settings.RAG_MIN_SCORE)
        reply = backend.complete(llm.ChatRequest(question, hits, []))
        times.append(time.perf_counter() - started)
        used = list(range(1, len(hits) + 1)) if reply.used is None else reply.used
        body = reply.text.removeprefix(OFFLINE_PREFIX).strip()
        if expected is None:
            refused.append(reply.text == NOT_COVERED and not used)
        else:
            answered.append(expected.lower() in body.lower())
            lengths.append(len(body.split()))
        if args.verbose:
            mark = "ok " if (expected is None and refused[-1]) or (expected and answered[-1]) else "NO "
            print(f"{mark}{question}  (expects {expected!r}, sources {used})\n    " + body.replace("\n", "\n    "))
    print(f"answered {np.mean(answered):.2f} ({sum(answered)}/{len(answered)}), refused off-topic "
          f"{np.mean(refused):.2f} ({sum(refused)}/{len(refused)}), median length {np.median(lengths):.0f} words, "
          f"p50 {np.median(times) * 1000:.0f} ms per question (search + answer)"
          + (" [words only]" if args.words_only else ""))


if __name__ == "__main__":
    main()
